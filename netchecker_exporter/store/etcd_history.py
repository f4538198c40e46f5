"""The diagnosis history in etcd: one key per node under /<tree>/history/, written by one replica.

Replicas on one etcd each judge every node and so each see every change, at the moments of their
own passes. Were each to append what it saw, every change would be stored once per replica. So one
replica writes: the holder of /<tree>/history-writer, a key bound to its etcd lease (etcd's own
election recipe, no clock of ours involved). Every history put is in a Txn that compares that key
with our id, so a replica that lost the lease cannot write, even mid-flush. The others keep their
own history in memory for their views and take over within the lease's TTL when the writer goes.
Writes happen on a thread of their own, only for nodes that changed, at most once per flush interval.
See docs/diagnosis-history.md.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from netchecker_exporter.diagnosis.history import HistoryLimits, NodeHistory
from netchecker_exporter.errors import StoreUnavailableError
from netchecker_exporter.store import etcd_rpc as etcdrpc
from netchecker_exporter.store.etcd_rpc import Stubs
from netchecker_exporter.store.history_codec import decode_node_history, encode_node_history

log = logging.getLogger("netchecker_exporter.store.etcd")

FLUSH_INTERVAL_SECONDS = 5.0
"""The most often history is written: a cluster-wide outage changes every node in one pass, and
this coalesces the passes of that interval into one put per node."""
WRITER_LEASE_SECONDS = 30
"""How long a writer that died silently blocks the others (it renews every flush interval)."""
MAX_TXN_PUTS = 100
"""Puts per Txn, under etcd's --max-txn-ops of 128 (one compare besides)."""
MAX_TXN_BYTES = 1_000_000
RANGE_PAGE_KEYS = 500
CLOSE_SECONDS = 1.5
"""At SIGTERM: how long the last flush may wait for etcd (twice: the thread, then the flush), so a
down etcd does not hold the shutdown past its few seconds."""

Call = Callable[..., Any]
"""EtcdStore._call: (what, action(stubs, timeout), deadline) with retries and failover."""


class EtcdHistory:
    """HistoryStore on etcd; the etcd-history thread restores, then flushes and keeps the lease."""

    def __init__(  # noqa: PLR0913 (keyword-only: dependencies and tunables)
        self,
        call: Call,
        *,
        tree: str,
        timeout_seconds: float,
        limits: HistoryLimits,
        replica_id: str | None = None,
        flush_interval_seconds: float = FLUSH_INTERVAL_SECONDS,
        lease_seconds: int = WRITER_LEASE_SECONDS,
    ) -> None:
        self._call = call
        self._prefix = f"/{tree}/history/".encode()
        self._writer_key = f"/{tree}/history-writer".encode()
        self._id = (replica_id or uuid.uuid4().hex).encode()
        self._timeout = timeout_seconds
        self._limits = limits
        self._interval = flush_interval_seconds
        self._lease_seconds = lease_seconds
        self._lease: int | None = None
        self._stored: Mapping[str, NodeHistory] | None = None
        self._pending: dict[str, NodeHistory] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.is_writer = False
        self._thread = threading.Thread(target=self._loop, name="etcd-history", daemon=True)
        self._thread.start()

    # -- HistoryStore -----------------------------------------------------------------------------

    def restored(self) -> Mapping[str, NodeHistory] | None:
        return self._stored

    def save(self, changed: Mapping[str, NodeHistory]) -> None:
        with self._lock:
            self._pending.update(changed)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._timeout = min(self._timeout, CLOSE_SECONDS)
        self._thread.join(timeout=CLOSE_SECONDS)
        if self._thread.is_alive():  # stuck on an unreachable etcd: the process is exiting anyway
            log.warning("etcd history: etcd did not answer; %d nodes' changes not written", self.unwritten)
            return
        try:
            self._flush()
            self._resign()
        except StoreUnavailableError as error:
            log.warning("etcd history: the last changes were not written: %s", error)

    @property
    def unwritten(self) -> int:
        """Nodes whose changes wait for the next flush."""
        with self._lock:
            return len(self._pending)

    # -- the etcd-history thread -------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._stored is None:
                    self._stored = self._load()
                    log.info("etcd history: restored %d nodes' history", len(self._stored))
                self._flush()
            except StoreUnavailableError as error:
                log.debug("etcd history: %s", error)
            self._stop.wait(self._interval)

    def _deadline(self) -> float:
        return time.monotonic() + self._timeout

    def _load(self) -> dict[str, NodeHistory]:
        """Every stored node history, page by page; a value we cannot read is skipped and logged."""
        nodes: dict[str, NodeHistory] = {}
        start, end = self._prefix, _prefix_end(self._prefix)
        while True:
            request = etcdrpc.RangeRequest(key=start, range_end=end, limit=RANGE_PAGE_KEYS)
            response = self._call(
                "history range", functools.partial(_range, request=request), self._deadline()
            )
            for kv in response.kvs:
                name = kv.key[len(self._prefix) :].decode(errors="replace")
                try:
                    nodes[name] = decode_node_history(kv.value, self._limits)
                except (ValueError, TypeError, RecursionError) as error:
                    log.warning("etcd history: ignoring unreadable history at %r: %s", kv.key, error)
            if not response.more or not response.kvs:
                return nodes
            start = response.kvs[-1].key + b"\0"

    def _flush(self) -> None:
        """Keep (or win) the writer lease; as the writer, put the nodes that changed."""
        if self._stored is None:
            return  # never write over a history not read yet
        lease = self._keep_lease()
        with self._lock:
            pending, self._pending = self._pending, {}
        try:
            self.is_writer = self._write(lease, pending)
        except StoreUnavailableError:
            with self._lock:  # newer changes queued meanwhile win over ours
                self._pending = {**pending, **self._pending}
            raise

    def _keep_lease(self) -> int:
        if self._lease is not None:
            request = etcdrpc.LeaseKeepAliveRequest(ID=self._lease)
            reply = self._call("lease keepalive", lambda s, t: _keep_alive(s, request, t), self._deadline())
            if reply is not None and reply.TTL > 0:
                return self._lease
            self._lease = None  # expired (a long outage): our writer key went with it
        grant = etcdrpc.LeaseGrantRequest(TTL=self._lease_seconds)
        response = self._call(
            "lease grant", lambda s, t: s.lease.LeaseGrant(grant, timeout=t), self._deadline()
        )
        if response.error:
            raise StoreUnavailableError(f"etcd refused a lease: {response.error}")
        self._lease = int(response.ID)
        return self._lease

    def _write(self, lease: int, pending: Mapping[str, NodeHistory]) -> bool:
        """Claim the writer key when it is free, then put in chunks; False: another replica writes."""
        claim = self._txn(self._claim_request(lease))
        if not claim.succeeded and not self._holds(claim):
            return False
        for chunk in _chunks([(self._prefix + name.encode(), encode_node_history(node))
                              for name, node in pending.items()]):  # fmt: skip
            if not self._txn(self._put_request(chunk)).succeeded:
                return False  # lost the lease between two chunks: the new writer has its own view
        return True

    def _claim_request(self, lease: int) -> Any:
        request = etcdrpc.TxnRequest()
        request.compare.add(key=self._writer_key, target=etcdrpc.Compare.CREATE,
                            result=etcdrpc.Compare.EQUAL, create_revision=0)  # fmt: skip
        put = request.success.add().request_put
        put.key, put.value, put.lease = self._writer_key, self._id, lease
        request.failure.add().request_range.key = self._writer_key
        return request

    def _holds(self, claim: Any) -> bool:
        kvs = claim.responses[0].response_range.kvs
        return bool(kvs) and kvs[0].value == self._id

    def _put_request(self, puts: list[tuple[bytes, bytes]]) -> Any:
        request = etcdrpc.TxnRequest()
        request.compare.add(key=self._writer_key, target=etcdrpc.Compare.VALUE,
                            result=etcdrpc.Compare.EQUAL, value=self._id)  # fmt: skip
        for key, value in puts:
            put = request.success.add().request_put
            put.key, put.value = key, value
        return request

    def _txn(self, request: Any) -> Any:
        return self._call("history txn", lambda s, t: s.kv.Txn(request, timeout=t), self._deadline())

    def _resign(self) -> None:
        """Revoke the lease, so a restarted replica (or another) can write at once."""
        if self._lease is None:
            return
        request = etcdrpc.LeaseRevokeRequest(ID=self._lease)
        self._call("lease revoke", lambda s, t: s.lease.LeaseRevoke(request, timeout=t), self._deadline())
        self._lease = None
        self.is_writer = False


def _range(stubs: Stubs, timeout: float, *, request: Any) -> Any:
    return stubs.kv.Range(request, timeout=timeout)


def _keep_alive(stubs: Stubs, request: Any, timeout: float) -> Any:
    """One round of the keep-alive stream: send one request, read its one answer."""
    replies = stubs.lease.LeaseKeepAlive(iter([request]), timeout=timeout)
    return next(iter(replies), None)


def _chunks(puts: list[tuple[bytes, bytes]]) -> list[list[tuple[bytes, bytes]]]:
    chunks: list[list[tuple[bytes, bytes]]] = [[]]
    size = 0
    for key, value in puts:
        if chunks[-1] and (len(chunks[-1]) >= MAX_TXN_PUTS or size + len(value) > MAX_TXN_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append((key, value))
        size += len(key) + len(value)
    return [chunk for chunk in chunks if chunk]


def _prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])
