"""What a replica pays for the reports other replicas take: CPU per watched report, unsharded and sharded.

    python -m bench.watch_cost [--agents 2000] [--rate 300] [--seconds 20] [--profile DIR]

One etcd; replica W takes every POST; replicas V1 (unsharded) and V2 (shard 0 of 2) take none and
only watch the store (the mirror) and judge the fleet, as every replica does with the others'
reports. After the fleet is stored, the CPU of V1 and V2 is read over a quiet window (passes only)
and over a window of `--rate` reports/s to W; the difference over the reports is the cost of one
report watched: the mirror's update and, at the next pass, the agent's lines written again where
the replica exports them. docs/scaling.md multiplies it by the fleet's reports/s. --profile
records py-spy (raw stacks) of the unsharded watcher over the loaded window into DIR.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bench.etcd_per_report import profile
from bench.payload import fleet_payloads
from bench.processes import LOOPBACK, Child, start_etcd, start_exporter

SENDERS = 4
QUIET_INTERVAL = 600


def post_all(port: int, bodies: Sequence[tuple[str, bytes]], rate: float) -> int:
    """POST `bodies` at about `rate`/s from SENDERS keep-alive connections; the 200s."""
    accepted = [0] * SENDERS
    started = time.monotonic()

    def send(worker: int) -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
        for index in range(worker, len(bodies), SENDERS):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pod, body = bodies[index]
            connection.request("POST", f"/api/v1/agents/{pod}", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            accepted[worker] += response.status == 200
        connection.close()

    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(accepted)


def cpu_over(children: Sequence[Child], seconds: float) -> list[float]:
    before = [child.cpu_seconds() for child in children]
    time.sleep(seconds)
    return [child.cpu_seconds() - start for child, start in zip(children, before, strict=True)]


def measure(agents: int, rate: float, seconds: float, profile_dir: Path | None = None) -> dict[str, float]:
    # A long interval: no agent turns outdated in the quiet window, which would write every agent's
    # lines again there and count against the loaded one.
    payloads = fleet_payloads(agents, now=time.time())
    longer = [(pod, body | {"report_interval": QUIET_INTERVAL}) for pod, body in payloads]
    bodies = [(pod, json.dumps(body).encode()) for pod, body in longer]
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as scratch:
        logs = Path(scratch) / "logs"
        etcd = start_etcd(1, Path(scratch) / "etcd", logs)
        endpoint = f"-etcd-endpoints=http://{LOOPBACK}:{etcd.port}"
        common = (endpoint, "-check-interval=10", "-report-ttl=3600", "-startup-grace=0")
        children = [
            start_exporter(None, logs / "writer", *common),
            start_exporter(None, logs / "unsharded", *common),
            start_exporter(None, logs / "shard", *common, "-total-shards=2", "-shard=0"),
        ]
        try:
            post_all(children[0].port, bodies, rate * 4)  # the fleet stored
            time.sleep(15)  # every watcher's mirror and a pass over the whole fleet
            quiet = cpu_over(children, seconds)
            count = int(rate * seconds)
            if profile_dir is not None:
                profile_dir.mkdir(parents=True, exist_ok=True)
                profile(children[1].pid, seconds + 11, profile_dir / "unsharded-watcher.txt")
            loaded_before = [child.cpu_seconds() for child in children]
            accepted = post_all(children[0].port, [bodies[i % agents] for i in range(count)], rate)
            time.sleep(11)  # the pass after the last report, and its writes
            loaded = [c.cpu_seconds() - b for c, b in zip(children, loaded_before, strict=True)]
            window = seconds + 11
        finally:
            for child in (*children, etcd):
                child.stop()
    extra = [loaded[i] - quiet[i] * window / seconds for i in range(3)]
    return {
        "agents": agents,
        "accepted": accepted,
        "writer_us_per_report": extra[0] / accepted * 1e6,
        "unsharded_watcher_us_per_report": extra[1] / accepted * 1e6,
        "shard_1_of_2_watcher_us_per_report": extra[2] / accepted * 1e6,
        "unsharded_watcher_quiet_cores": quiet[1] / seconds,
        "shard_watcher_quiet_cores": quiet[2] / seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--profile", type=Path, help="py-spy the unsharded watcher into this directory")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.agents, args.rate, args.seconds, args.profile), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
