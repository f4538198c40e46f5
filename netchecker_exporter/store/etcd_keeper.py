"""The etcd store's keeper: every second, etcd's status and alarms, a write probe while writes fail,
compaction, and leases ahead of need.

A mixin of EtcdStore (its methods moved here whole, to keep etcd.py one concern and < 300 lines).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from netchecker_exporter.errors import StoreUnavailableError
from netchecker_exporter.store import etcd_rpc as etcdrpc
from netchecker_exporter.store.compaction import CompactionSchedule
from netchecker_exporter.store.etcd_channel import REQUIRE_LEADER
from netchecker_exporter.store.lease_pool import LeasePool
from netchecker_exporter.store.reachability import Reachability

log = logging.getLogger("netchecker_exporter.store.etcd")

KEEPER_INTERVAL_SECONDS = 1.0


class Keeper:
    """Runs on the etcd-keeper thread (`_keep_loop`)."""

    _timeout: float
    _stop: threading.Event
    _compaction: CompactionSchedule | None
    _leases: LeasePool
    _call: Callable[..., Any]
    _grant: Callable[..., int]
    _reachability: Reachability
    _probe_key: bytes

    def _keep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._keep(time.monotonic() + self._timeout)
            except StoreUnavailableError as error:
                log.debug("etcd store keeper: %s", error)
            self._stop.wait(KEEPER_INTERVAL_SECONDS)

    def _keep(self, deadline: float) -> None:
        status = self._call(
            "status", lambda s, t: s.maintenance.Status(etcdrpc.StatusRequest(), timeout=t), deadline
        )
        self._check_alarms(deadline)
        if not self._reachability.writes_ok and not self._reachability.alarmed:
            self._probe_write(deadline)
        target = self._compaction.due(status.header.revision) if self._compaction else None
        if target is not None:
            self._compact(target, deadline)

        def grant(ttl: int) -> int:
            return int(self._call("lease grant", lambda s, t: self._grant(s, ttl, t), deadline))

        self._leases.prepare(grant)

    def _check_alarms(self, deadline: float) -> None:
        """NOSPACE (or CORRUPT): etcd answers reads and refuses writes; say so until it is disarmed."""
        request = etcdrpc.AlarmRequest(action=etcdrpc.AlarmRequest.GET)
        response = self._call("alarm list", lambda s, t: s.maintenance.Alarm(request, timeout=t), deadline)
        raised = {etcdrpc.AlarmType.Name(m.alarm) for m in response.alarms if m.alarm != etcdrpc.NONE}
        self._reachability.alarms(tuple(sorted(raised)))

    def _probe_write(self, deadline: float) -> None:
        """While writes are failing, one small put a keeper pass: its success closes the breaker."""
        request = etcdrpc.PutRequest(key=self._probe_key, value=b"1")
        put = lambda s, t: s.kv.Put(request, timeout=t, metadata=REQUIRE_LEADER)  # noqa: E731
        self._call("probe write", put, deadline, write=True)

    def _compact(self, revision: int, deadline: float) -> None:
        request = etcdrpc.CompactionRequest(revision=revision)
        try:
            self._call("compact", lambda s, t: s.kv.Compact(request, timeout=t), deadline)
        except StoreUnavailableError as error:  # e.g. another replica compacted further already
            log.info("etcd store: compaction up to revision %d skipped: %s", revision, error)
            return
        log.info("etcd store: compacted etcd history up to revision %d", revision)
