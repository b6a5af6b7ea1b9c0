#!/usr/bin/env bash
# Event intake of `keptn serve` under a long load, for comparing builds: for each round and each
# binary, a fresh server (SQLite, noop integration) on loopback takes `hey -n N -c C` events
# (hey, from Debian), and the events/s, p50, p99 and server CPU per event are printed.
# Usage: bash scripts/bench-intake.sh [-r ROUNDS] [-n EVENTS] [-c CLIENTS] [-p ADMIN_URL] [BINARY...]
#        (default: 3 rounds of 64,000 events from 16 clients against target/release/keptn;
#        several binaries are run interleaved, round by round; with -p, the servers run on
#        PostgreSQL (`--database`), a fresh database per run made through psql on ADMIN_URL,
#        e.g. postgres://postgres@127.0.0.1:5432/postgres, instead of SQLite)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 n=64000 c=16 pg_admin=
while getopts r:n:c:p: opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    n) n=$OPTARG ;;
    c) c=$OPTARG ;;
    p) pg_admin=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
command -v hey >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends hey; }
if [ $# -eq 0 ]; then
  cargo build --release --locked -p keptn-cli
  set -- "${CARGO_TARGET_DIR:-$PWD/target}/release/keptn"
fi
port=18182 token=bench-token
work=$(mktemp -d)
pg_db=keptn_bench_intake_$$
export PGOPTIONS="-c client_min_messages=warning"
drop_db() { [ -z "$pg_admin" ] || psql "$pg_admin" -X -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null; }
cleanup() {
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
  rm -rf "$work"
  drop_db
}
trap cleanup EXIT
printf 'integrations:\n  - name: noop\n    subscriptions:\n      - event: sh.keptn.event.deployment.triggered\n' >"$work/uniform.yaml"
cat >"$work/event.json" <<'JSON'
{"specversion": "1.0", "source": "hey", "type": "sh.keptn.event.test.finished", "shkeptncontext": "load", "data": {"project": "sockshop", "stage": "dev", "service": "carts", "result": "pass", "status": "succeeded"}}
JSON
ticks=$(getconf CLK_TCK)
for _ in $(seq "$rounds"); do
  for keptn in "$@"; do
    rm -rf "$work/data"
    database=()
    if [ -n "$pg_admin" ]; then
      drop_db
      psql "$pg_admin" -X -q -c "CREATE DATABASE $pg_db" >/dev/null
      database=(--database "${pg_admin%/*}/$pg_db")
    fi
    KEPTN_API_TOKEN=$token "$keptn" serve --data-dir "$work/data" --listen 127.0.0.1:$port --uniform "$work/uniform.yaml" "${database[@]}" 2>"$work/serve.log" &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.01; done
    cpu_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(hey -n "$n" -c "$c" -m POST -H "x-token: $token" -T application/cloudevents+json -D "$work/event.json" "http://127.0.0.1:$port/api/v1/event")
    cpu_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"
    # Stopped by SIGTERM: its exit status is 143, which is expected here.
    if wait "$pid" 2>/dev/null; then :; fi
    pid=
    echo "$out" | awk -v bin="$keptn" -v store="${pg_admin:+ (PostgreSQL)}" -v cpu=$((cpu_after - cpu_before)) -v ticks="$ticks" -v n="$n" '
      /Requests\/sec/ {rps = $2} /50% in/ {p50 = $3 * 1000} /99% in/ {p99 = $3 * 1000}
      END {printf "%s%s: %.0f events/s, p50 %.1f ms, p99 %.1f ms, server CPU %.0f µs per event\n", bin, store, rps, p50, p99, cpu / ticks / n * 1e6}'
  done
done
