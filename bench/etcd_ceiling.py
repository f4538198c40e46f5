"""The etcd ceiling: raw puts through our own etcd v3 stubs, as fast as `threads` threads go.

Each put stores one agent record (the stored JSON of a real report, distinct keys under one
prefix), no lease, no compare: what etcd and the gRPC client give before our store adds anything.
`--txn-size N` sends N puts per Txn (the store group-commits its writes the same way).
`--stubs etcd3` uses the etcd3 package's generated stubs instead of ours, for the comparison in
BENCHMARKS.md (run from a venv with `etcd3==0.12.0 'protobuf<4' grpcio`: pure-Python protobuf).
`python -m bench.etcd_ceiling --endpoint 127.0.0.1:2379 --duration 10 [--txn-size 50]`
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import grpc

from bench.payload import agent_identity, load_fixtures, render_report
from bench.stats import summarize
from netchecker_exporter.report import next_record, parse_report, record_to_stored_json


def load_stubs(which: str) -> Any:
    """The module with TxnRequest, PutRequest and KVStub: ours (protobuf upb) or etcd3's."""
    return importlib.import_module(
        "etcd3.etcdrpc" if which == "etcd3" else "netchecker_exporter.store.etcd_rpc"
    )


AGENTS = 10_000
"""Distinct keys the puts cycle through."""


def stored_value(index: int) -> bytes:
    """What the etcd store keeps for agent `index`: the record as JSON, padding dropped."""
    identity = agent_identity(index)
    body = render_report(load_fixtures()[identity.hostnet], identity, now=time.time())
    record = next_record(None, parse_report(json.loads(body), identity.pod), time.time())
    return json.dumps(record_to_stored_json(record)).encode()


def compact_history(etcd_rpc: Any, kv: Any) -> None:
    """Drop the run's old revisions: at 40,000+ puts/s a few runs fill etcd's space quota (NOSPACE),
    and the store scenarios that follow on the same etcd would measure that alarm."""
    revision = kv.Range(etcd_rpc.RangeRequest(key=b"/bench/", limit=1), timeout=5).header.revision
    kv.Compact(etcd_rpc.CompactionRequest(revision=revision, physical=True), timeout=60)


def put_batch(etcd_rpc: Any, kv: Any, keys: Sequence[bytes], value: bytes) -> None:
    """One Put for one key, else one Txn of unconditional puts."""
    if len(keys) == 1:
        kv.Put(etcd_rpc.PutRequest(key=keys[0], value=value), timeout=5)
        return
    request = etcd_rpc.TxnRequest()
    for key in keys:
        request.success.add(request_put=etcd_rpc.PutRequest(key=key, value=value))
    kv.Txn(request, timeout=5)


def run_puts(
    target: str, *, threads: int, duration_seconds: float, txn_size: int, stubs: str
) -> dict[str, object]:
    etcd_rpc, agents = load_stubs(stubs), AGENTS
    values = [stored_value(0), stored_value(1)]
    keys = [f"/bench/agents/{agent_identity(i).pod}".encode() for i in range(agents)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    deadline = time.monotonic() + duration_seconds
    channel = grpc.insecure_channel(target)
    kv = etcd_rpc.KVStub(channel)

    def worker(slot: int) -> None:
        index = slot * txn_size
        while time.monotonic() < deadline:
            batch = [keys[(index + i) % agents] for i in range(txn_size)]
            started = time.monotonic()
            try:
                put_batch(etcd_rpc, kv, batch, values[slot % 2])
            except grpc.RpcError:  # one failed call is one error, not counted in the rate
                errors[slot] += 1
                continue
            latencies[slot].append(time.monotonic() - started)
            index += threads * txn_size

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=duration_seconds + 10)
    elapsed = time.monotonic() - started
    compact_history(etcd_rpc, kv)
    channel.close()
    flat = [x for slot in latencies for x in slot]
    summary = summarize(flat)
    protobuf = importlib.import_module("google.protobuf.internal.api_implementation")
    return {
        "stubs": stubs,
        "protobuf_backend": protobuf.Type(),
        "threads": threads,
        "txn_size": txn_size,
        "calls": len(flat),
        "puts": len(flat) * txn_size,
        "errors": sum(errors),
        "value_bytes": len(values[0]),
        "rate_per_second": len(flat) * txn_size / elapsed,
        "latency_seconds": {"p50": summary.p50, "p99": summary.p99, "max": summary.max},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="127.0.0.1:2379")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--txn-size", type=int, default=1, help="puts per call: 1 = Put, more = one Txn")
    parser.add_argument("--stubs", default="ours", choices=["ours", "etcd3"])
    args = parser.parse_args(argv)
    host, _ = args.endpoint.rsplit(":", 1)
    if host not in {"127.0.0.1", "localhost"}:
        parser.error("benchmark traffic goes to the loopback interface only")
    result = run_puts(
        args.endpoint,
        threads=args.threads,
        duration_seconds=min(args.duration, 600),
        txn_size=max(1, min(args.txn_size, 100)),
        stubs=args.stubs,
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
