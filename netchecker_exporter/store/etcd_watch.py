"""The etcd store's mirror feed: list the prefix, then watch it from the listed revision.

A part of EtcdStore with its own thread (etcd-watch) and stop event (docs/etcd.md#the-parts).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from netchecker_exporter.errors import InvalidReportError, StoreUnavailableError
from netchecker_exporter.report import AgentRecord
from netchecker_exporter.report_wire import decode_stored_record
from netchecker_exporter.store import etcd_rpc as etcdrpc
from netchecker_exporter.store.etcd_channel import REQUIRE_LEADER, Endpoints, describe_rpc_error, is_transient
from netchecker_exporter.store.etcd_metrics import EtcdClientMetrics
from netchecker_exporter.store.etcd_rpc import Stubs, kv_pb2
from netchecker_exporter.store.mirror import Mirror, MirrorEntry, MirrorEvent, OwnWrites
from netchecker_exporter.store.reachability import Reachability

log = logging.getLogger("netchecker_exporter.store.etcd")

RANGE_PAGE_KEYS = 500


class _CompactedError(Exception):
    """The watch's start revision was compacted (or its backlog is too large): list again."""


class EtcdWatch:
    """Keeps `mirror` equal to etcd's prefix, on the etcd-watch thread, until stop()."""

    def __init__(  # noqa: PLR0913 (keyword-only: the store's shared parts)
        self,
        *,
        prefix: bytes,
        timeout: float,
        mirror: Mirror,
        own_writes: OwnWrites,
        endpoints: Endpoints[Stubs],
        reachability: Reachability,
        metrics: EtcdClientMetrics,
        call: Callable[..., Any],
    ) -> None:
        self._prefix, self._timeout = prefix, timeout
        self._mirror, self._own_writes = mirror, own_writes
        self._endpoints, self._reachability = endpoints, reachability
        self.metrics = metrics
        self._call = call
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._watch_call: Any = None
        self._watch_failures = 0
        self._thread = threading.Thread(target=self._watch_loop, name="etcd-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end: set its stop event and cancel the open watch stream."""
        with self._lock:
            self._stop.set()
            call = self._watch_call
        if call is not None:
            call.cancel()

    def join(self) -> None:
        self._thread.join(timeout=self._timeout + 5)

    def _watch_loop(self) -> None:
        must_list = True
        while not self._stop.is_set():
            try:
                if must_list:
                    self._list()
                    must_list = False
                self._watch(self._mirror.watched_revision + 1)
            except _CompactedError as error:
                log.info("etcd store: %s; listing again", error)
                self.metrics.watch_restarts.labels(reason="relist").inc()
                must_list = True
            except StoreUnavailableError as error:
                if self._stop.is_set():
                    return
                self.metrics.watch_restarts.labels(reason="error").inc()
                self._watch_failures += 1
                self._reachability.watching(False, str(error))
                self._stop.wait(min(2.0, 0.05 * 2 ** min(self._watch_failures, 6)))

    def _list(self) -> None:
        """Load the whole prefix at one revision, page by page (no response exceeds gRPC limits)."""
        entries: dict[str, MirrorEntry] = {}
        start, revision = self._prefix, 0
        while True:
            request = etcdrpc.RangeRequest(
                key=start, range_end=prefix_end(self._prefix), limit=RANGE_PAGE_KEYS, revision=revision
            )
            response = self._call(
                "range", functools.partial(_range, request=request), time.monotonic() + self._timeout
            )
            revision = revision or response.header.revision
            for kv in response.kvs:
                record = self._decode(kv)
                if record is not None:
                    entries[record.report.podname] = MirrorEntry(record, kv.mod_revision)
            if not response.more or not response.kvs:
                break
            start = response.kvs[-1].key + b"\0"
        self._mirror.replace(entries, revision)
        log.info("etcd store: loaded %d records at revision %d", len(entries), revision)

    def _watch(self, start_revision: int) -> None:
        stubs = self._endpoints.current()
        finished = threading.Event()
        create = etcdrpc.WatchRequest(
            create_request=etcdrpc.WatchCreateRequest(
                key=self._prefix, range_end=prefix_end(self._prefix), start_revision=start_revision
            )
        )

        def requests() -> Any:
            yield create
            finished.wait()

        call = stubs.watch.Watch(requests(), metadata=REQUIRE_LEADER)
        with self._lock:
            self._watch_call = call
            if self._stop.is_set():
                call.cancel()
        try:
            self._consume(call)
        except grpc.RpcError as error:
            self._on_watch_error(stubs, error)
        finally:
            finished.set()
            call.cancel()

    def _on_watch_error(self, stubs: Stubs, error: Any) -> None:
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise _CompactedError("the watch backlog exceeds the message size limit") from error
        if is_transient(error):
            self._endpoints.failed(stubs, error)
        raise StoreUnavailableError(f"etcd watch broke: {describe_rpc_error(error)}") from error

    def _consume(self, call: Any) -> None:
        for response in call:
            if response.compact_revision:
                raise _CompactedError(f"revision compacted up to {response.compact_revision}")
            if response.canceled:
                raise StoreUnavailableError(f"etcd cancelled the watch: {response.cancel_reason}")
            if response.created:
                self._watch_failures = 0
                self._reachability.watching(True)
                continue
            self._apply_events(response.events, response.header.revision)
        raise StoreUnavailableError("etcd closed the watch stream")

    def _apply_events(self, events: Any, revision: int) -> None:
        changes = []
        for event in events:
            kv = event.kv
            name = kv.key[len(self._prefix) :].decode(errors="replace")
            if event.type == kv_pb2.Event.DELETE:
                changes.append(MirrorEvent(name, None, kv.mod_revision))
            elif self._mirror.is_newer(name, kv.mod_revision):
                record = self._own_writes.record_for(name, kv.value) or self._decode(kv)
                changes.append(MirrorEvent(name, record, kv.mod_revision))
        self._mirror.apply_watched(changes, revision)

    def _decode(self, kv: Any) -> AgentRecord | None:
        return decode_record(kv, self._prefix)


def decode_record(kv: Any, prefix: bytes) -> AgentRecord | None:
    """The record at `kv`, validated like a report, or None (logged) if it is not one of ours."""
    try:
        record = decode_stored_record(kv.value)
    except (ValueError, RecursionError, InvalidReportError) as error:
        log.warning("etcd store: ignoring unreadable record at %r: %s", kv.key, error)
        return None
    if prefix + record.report.podname.encode() != kv.key:
        log.warning("etcd store: ignoring the record at %r: it is %r's", kv.key, record.report.podname)
        return None
    return record


def _range(stubs: Stubs, timeout: float, *, request: Any) -> Any:
    return stubs.kv.Range(request, timeout=timeout)


def prefix_end(prefix: bytes) -> bytes:
    """The range end covering every key that starts with `prefix` (its last byte plus one)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])
