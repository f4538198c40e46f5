"""The etcd ceiling: raw puts from the etcd3 client our store uses, as fast as `threads` threads go.

One put per agent record (the stored JSON of a real report, distinct keys under one prefix), no
lease, no transaction: what etcd on this machine gives before our store adds anything.
`python -m bench.etcd_ceiling --endpoint 127.0.0.1:2379 --duration 10`
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence

import etcd3

from bench.payload import agent_identity, load_fixtures, render_report
from bench.stats import summarize
from netchecker_exporter.report import next_record, parse_report, record_to_stored_json


def stored_value(index: int) -> bytes:
    """What the etcd store keeps for agent `index`: the record as JSON, padding dropped."""
    identity = agent_identity(index)
    body = render_report(load_fixtures()[identity.hostnet], identity, now=time.time())
    record = next_record(None, parse_report(json.loads(body), identity.pod), time.time())
    return json.dumps(record_to_stored_json(record)).encode()


def run_puts(
    host: str, port: int, *, threads: int, duration_seconds: float, agents: int
) -> dict[str, object]:
    values = [stored_value(0), stored_value(1)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    deadline = time.monotonic() + duration_seconds

    def worker(slot: int) -> None:
        client = etcd3.client(host=host, port=port, timeout=5)
        index = slot
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                client.put(f"/bench/agents/{agent_identity(index % agents).pod}", values[index % 2])
            except Exception:  # any failure is one error; the figure is what matters here
                errors[slot] += 1
            latencies[slot].append(time.monotonic() - started)
            index += threads
        client.close()

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=duration_seconds + 10)
    elapsed = time.monotonic() - started
    flat = [x for slot in latencies for x in slot]
    summary = summarize(flat)
    return {
        "threads": threads,
        "puts": len(flat),
        "errors": sum(errors),
        "value_bytes": len(values[0]),
        "rate_per_second": len(flat) / elapsed,
        "latency_seconds": {"p50": summary.p50, "p99": summary.p99, "max": summary.max},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="127.0.0.1:2379")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--agents", type=int, default=10_000)
    args = parser.parse_args(argv)
    host, port = args.endpoint.rsplit(":", 1)
    if host not in {"127.0.0.1", "localhost"}:
        parser.error("benchmark traffic goes to the loopback interface only")
    result = run_puts(
        host, int(port), threads=args.threads, duration_seconds=min(args.duration, 600), agents=args.agents
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
