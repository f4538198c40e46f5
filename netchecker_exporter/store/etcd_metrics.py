"""The etcd client's own metrics: requests by RPC and result, group-commit batch sizes, watch restarts.

Registered on the registry cli.py builds (tests pass a fresh one), so they reach /metrics.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 60)
"""Reports per commit; 60 is the store's cap per Txn (MAX_TXN_REPORTS)."""
RPCS = ("range", "txn", "lease_grant", "status", "alarm_list", "probe_write", "compact")
WATCH_RESTART_REASONS = ("relist", "error")


class EtcdClientMetrics:
    """Counters and a histogram the etcd store updates as it talks to etcd."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "netchecker_etcd_requests",
            "etcd RPC attempts (each retry is one), by RPC and result: ok or the gRPC status code.",
            ["rpc", "result"],
            registry=registry,
        )
        self.commit_batch_reports = Histogram(
            "netchecker_etcd_commit_batch_reports",
            "Reports committed together by one group commit (one etcd Txn, or a few when split).",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.watch_restarts = Counter(
            "netchecker_etcd_watch_restarts",
            "Watch streams started again: relist (history compacted, the prefix listed again) or error.",
            ["reason"],
            registry=registry,
        )
        self._children: dict[tuple[str, str], Any] = {}
        for rpc in RPCS:
            self._children[rpc, "ok"] = self.requests.labels(rpc=rpc, result="ok")
        for reason in WATCH_RESTART_REASONS:
            self.watch_restarts.labels(reason=reason)

    def request_done(self, rpc: str, result: str) -> None:
        """Counted on the child kept per (rpc, result): labels() takes a lock and builds a key per call."""
        child = self._children.get((rpc, result))
        if child is None:
            child = self._children.setdefault((rpc, result), self.requests.labels(rpc=rpc, result=result))
        child.inc()
