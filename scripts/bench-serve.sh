#!/usr/bin/env bash
# Measures `keptn serve` (release build) on loopback: start to healthy, idle RSS, a 3-stage
# delivery answered by `noop`, and event intake under load (hey, from Debian), including a
# sustained run of 64,000 events.
# Usage: bash scripts/bench-serve.sh   (prints the figures recorded in BENCHMARKS.md; honours
# CARGO_TARGET_DIR, a relative one taken from the workspace root; with KEPTN_BIN=path it
# measures that binary instead of building one, to compare builds run after run)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hey >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends hey; }
if [ -n "${KEPTN_BIN:-}" ]; then
  keptn=$KEPTN_BIN
else
  cargo build --release --locked -p keptn-cli
  keptn=${CARGO_TARGET_DIR:-$PWD/target}/release/keptn
fi
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=18181
token=bench-token
export KEPTN_ENDPOINT=http://127.0.0.1:$port KEPTN_API_TOKEN=$token
cat > "$work/uniform.yaml" <<'YAML'
integrations:
  - name: noop
    subscriptions:
      - event: sh.keptn.event.deployment.triggered
      - event: sh.keptn.event.test.triggered
      - event: sh.keptn.event.evaluation.triggered
      - event: sh.keptn.event.release.triggered
  - name: approval-service
    subscriptions:
      - event: sh.keptn.event.approval.triggered
YAML

start=$(date +%s%N)
"$keptn" serve --data-dir "$work/data" --listen 127.0.0.1:$port --uniform "$work/uniform.yaml" 2>"$work/serve.log" &
pid=$!
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.005; done
echo "start to healthy: $(( ($(date +%s%N) - start) / 1000000 )) ms"
sleep 1
echo "idle RSS: $(awk '/VmRSS/ {print $2 / 1024 " MB"}' /proc/$pid/status)"

"$keptn" create project sockshop --shipyard examples/sockshop/shipyard.yaml >/dev/null
"$keptn" create service carts --project sockshop >/dev/null
for run in 1 2 3 4 5; do
  context=$("$keptn" trigger delivery --project sockshop --service carts --image carts:0.9.$run -o json | sed -n 's/.*"keptnContext": "\(.*\)".*/\1/p')
  until "$keptn" get sequences --project sockshop --keptn-context "$context" --stage production --state finished -o json | grep -q '"finished"'; do sleep 0.01; done
  "$keptn" get events --keptn-context "$context" -o json | python3 -c '
import json, sys, datetime
events = json.load(sys.stdin)["events"]
times = [datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in events]
finished = [e for e in events if e["type"] == "sh.keptn.event.production.delivery.finished"]
end = datetime.datetime.fromisoformat(finished[0]["time"].replace("Z", "+00:00"))
tasks = sum(1 for e in events if e["type"].endswith(".triggered") and e["type"].count(".") == 4)
print(f"3-stage delivery (noop): {(end - min(times)).total_seconds() * 1000:.0f} ms end to end, {len(events)} events, {tasks} tasks")'
done

cat > "$work/event.json" <<'JSON'
{"specversion": "1.0", "source": "hey", "type": "sh.keptn.event.test.finished", "shkeptncontext": "load", "data": {"project": "sockshop", "stage": "dev", "service": "carts", "result": "pass", "status": "succeeded"}}
JSON
# hey sends n / c requests per client: 6,400 divides evenly by every client count. The last run
# is ten times longer, so that a table that grows under load shows in the figures.
for run in 8:6400 16:6400 32:6400 16:64000; do
clients=${run%:*} requests=${run#*:}
echo "event intake (hey -n $requests -c $clients, POST /api/v1/event):"
hey -n "$requests" -c "$clients" -m POST -H "x-token: $token" -T application/cloudevents+json -D "$work/event.json" "http://127.0.0.1:$port/api/v1/event" \
  | grep -E "Requests/sec|Average|99% in|50% in|\[2[0-9][0-9]\][^|]*$|\[[45][0-9][0-9]\][^|]*$"
done
curl -s -H "x-token: $token" "http://127.0.0.1:$port/metrics" | grep -E "^keptn_(orchestrator_transition|store_commit)_seconds_(sum|count)"
