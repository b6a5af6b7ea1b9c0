#!/usr/bin/env python3
"""Orchestration overhead of `keptn serve`, for comparing builds: for each round and each
binary, a fresh server (SQLite, every task answered by noop, approvals by approval-service)
runs N deliveries of the sockshop shipyard one after the other (9 tasks, 33 events each);
printed per binary and round: the median and p90 of trigger-to-`production.delivery.finished`
(from the events' own times) and the server's CPU time per delivery.

With --callgrind, each server runs under valgrind's callgrind instead and the instructions it
executed per delivery are printed (the same run with no delivery is subtracted): a count that
does not depend on what else the machine does. The deliveries are then triggered for N services
at once and waited for together, so that the count does not depend on how often the client
polls.

Usage: python3 scripts/bench-delivery.py [-r ROUNDS] [-n DELIVERIES] [--callgrind] BINARY...
(several binaries run interleaved, round by round)."""

import argparse, base64, datetime, json, os, statistics, subprocess, tempfile, time, urllib.request

UNIFORM = """integrations:
  - name: noop
    subscriptions:
      - event: sh.keptn.event.deployment.triggered
      - event: sh.keptn.event.test.triggered
      - event: sh.keptn.event.evaluation.triggered
      - event: sh.keptn.event.release.triggered
  - name: approval-service
    subscriptions:
      - event: sh.keptn.event.approval.triggered
"""
TOKEN, PORT = "bench-token", 18183


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method,
                                     headers={"x-token": TOKEN, "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def trigger(service, number):
    event = {"specversion": "1.0", "source": "bench", "type": "sh.keptn.event.dev.delivery.triggered",
             "data": {"project": "sockshop", "stage": "dev", "service": service,
                      "configurationChange": {"values": {"image": f"carts:{number}"}}}}
    return call("POST", "/api/v1/event", event)["keptnContext"]


def instructions(binary, n_deliveries, shipyard):
    """Instructions the server executes for `n_deliveries` parallel deliveries (start and
    stop included)."""
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "uniform.yaml"), "w") as uniform:
            uniform.write(UNIFORM)
        out = os.path.join(work, "callgrind.out")
        server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                   binary, "serve", "--data-dir", os.path.join(work, "data"),
                                   "--listen", f"127.0.0.1:{PORT}", "--uniform", os.path.join(work, "uniform.yaml")],
                                  env={**os.environ, "KEPTN_API_TOKEN": TOKEN},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=5)
                    break
                except OSError:
                    time.sleep(0.2)
            call("POST", "/api/v1/project", {"name": "sockshop", "shipyard": base64.b64encode(shipyard).decode()})
            services = [f"carts{number}" for number in range(n_deliveries)]
            for service in services:
                call("POST", "/api/v1/project/sockshop/service", {"serviceName": service})
            contexts = [trigger(service, number) for number, service in enumerate(services)]
            for context in contexts:
                while True:
                    events = call("GET", f"/api/v1/event?keptnContext={context}&type=sh.keptn.event.production.delivery.finished")["events"]
                    if events:
                        break
                    time.sleep(2)
        finally:
            server.terminate()
            server.wait()
        with open(out) as profile:
            for line in profile:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
    raise RuntimeError("callgrind wrote no totals")


def run(binary, n_deliveries, shipyard):
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "uniform.yaml"), "w") as uniform:
            uniform.write(UNIFORM)
        server = subprocess.Popen([binary, "serve", "--data-dir", os.path.join(work, "data"),
                                   "--listen", f"127.0.0.1:{PORT}", "--uniform", os.path.join(work, "uniform.yaml")],
                                  env={**os.environ, "KEPTN_API_TOKEN": TOKEN},
                                  stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.01)
            call("POST", "/api/v1/project", {"name": "sockshop", "shipyard": base64.b64encode(shipyard).decode()})
            call("POST", "/api/v1/project/sockshop/service", {"serviceName": "carts"})
            latencies = []
            ticks_before = cpu_ticks(server.pid)
            for number in range(n_deliveries):
                context = trigger("carts", number)
                while True:
                    events = call("GET", f"/api/v1/event?keptnContext={context}")["events"]
                    done = [e for e in events if e["type"] == "sh.keptn.event.production.delivery.finished"]
                    if done:
                        break
                    time.sleep(0.05)
                start = min(when(e["time"]) for e in events)
                latencies.append((when(done[0]["time"]) - start).total_seconds() * 1000)
            ticks = cpu_ticks(server.pid) - ticks_before
        finally:
            server.terminate()
            server.wait()
    latencies.sort()
    cpu_ms = ticks / os.sysconf("SC_CLK_TCK") / n_deliveries * 1000
    return statistics.median(latencies), latencies[int(len(latencies) * 0.9) - 1], cpu_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("-n", "--deliveries", type=int, default=20)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "examples", "sockshop", "shipyard.yaml"), "rb") as file:
        shipyard = file.read()
    if args.callgrind:
        for _ in range(args.rounds):
            for binary in args.binaries:
                base = instructions(binary, 0, shipyard)
                total = instructions(binary, args.deliveries, shipyard)
                print(f"{binary}: {(total - base) / args.deliveries / 1e6:.1f} M instructions per delivery "
                      f"({args.deliveries} deliveries; start and stop {base / 1e6:.0f} M)", flush=True)
        return
    for _ in range(args.rounds):
        for binary in args.binaries:
            median, p90, cpu_ms = run(binary, args.deliveries, shipyard)
            print(f"{binary}: {args.deliveries} deliveries, median {median:.0f} ms, p90 {p90:.0f} ms, "
                  f"server CPU {cpu_ms:.1f} ms per delivery", flush=True)


if __name__ == "__main__":
    main()
