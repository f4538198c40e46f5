"""The etcd store's keeper: every second, etcd's status and alarms, a write probe while writes fail,
compaction, recovery from NOSPACE (store/nospace.py), and leases ahead of need.

A part of EtcdStore with its own thread (etcd-keeper) and stop event (docs/etcd.md#the-parts).
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
from netchecker_exporter.store.nospace import NoSpaceRecovery
from netchecker_exporter.store.reachability import Reachability

log = logging.getLogger("netchecker_exporter.store.etcd")

KEEPER_INTERVAL_SECONDS = 1.0
DEFRAGMENT_TIMEOUT_SECONDS = 60.0
"""A defragmentation rewrites the whole database file: seconds per GiB, longer on a slow disk."""


class EtcdKeeper:
    """Keeps etcd usable and the store's view of it current, on the etcd-keeper thread, until stop()."""

    def __init__(  # noqa: PLR0913 (keyword-only: the store's shared parts)
        self,
        *,
        timeout: float,
        compaction: CompactionSchedule | None,
        leases: LeasePool,
        call: Callable[..., Any],
        grant: Callable[..., int],
        reachability: Reachability,
        probe_key: bytes,
        nospace: NoSpaceRecovery,
    ) -> None:
        self._timeout, self._compaction, self._leases = timeout, compaction, leases
        self._call, self._grant = call, grant
        self._reachability, self._probe_key, self._nospace = reachability, probe_key, nospace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_loop, name="etcd-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        self._thread.join(timeout=self._timeout + 5)

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
        raised = self._check_alarms(deadline)
        # With compaction left to others (-etcd-compact-interval=0), so is the recovery.
        nospace = bool(raised.get(etcdrpc.NOSPACE)) and self._compaction is not None
        if self._nospace.due(alarmed=nospace, db_size_bytes=status.dbSize, quota_bytes=status.dbSizeQuota):
            self._recover_space(status.header.revision, raised[etcdrpc.NOSPACE], deadline)
        if not self._reachability.writes_ok and not self._reachability.alarmed:
            self._probe_write(deadline)
        target = self._compaction.due(status.header.revision) if self._compaction else None
        if target is not None:
            self._compact(target, deadline)

        def grant(ttl: int) -> int:
            return int(self._call("lease grant", lambda s, t: self._grant(s, ttl, t), deadline))

        self._leases.prepare(grant)

    def _check_alarms(self, deadline: float) -> dict[int, list[int]]:
        """NOSPACE (or CORRUPT): etcd answers reads and refuses writes; say so until it is disarmed.
        Returns the members raising each alarm type."""
        request = etcdrpc.AlarmRequest(action=etcdrpc.AlarmRequest.GET)
        response = self._call("alarm list", lambda s, t: s.maintenance.Alarm(request, timeout=t), deadline)
        raised: dict[int, list[int]] = {}
        for member in response.alarms:
            if member.alarm != etcdrpc.NONE:
                raised.setdefault(member.alarm, []).append(member.memberID)
        self._reachability.alarms(tuple(sorted(etcdrpc.AlarmType.Name(alarm) for alarm in raised)))
        return raised

    def _recover_space(self, revision: int, members: list[int], deadline: float) -> None:
        """Compact all history (waiting until it is applied), then, when it can help (see
        store/nospace.py), defragment the member we talk to (it blocks that member while it runs)
        and disarm NOSPACE if the file is well under the quota. Reads keep coming from the mirror
        throughout."""
        self._compact(revision, deadline, physical=True)
        in_use = self._status(deadline).dbSizeInUse
        if not self._nospace.may_defragment(in_use_bytes=in_use, compacted_revision=revision):
            log.warning(
                "etcd store: NOSPACE: %d bytes still in use after compaction, not under %d, and a "
                "defragmentation measured this revision (%d) already; trying again as records expire",
                in_use,
                self._nospace.threshold_bytes(),
                revision,
            )
            return
        defrag_deadline = time.monotonic() + max(self._timeout, DEFRAGMENT_TIMEOUT_SECONDS)
        request = etcdrpc.DefragmentRequest()
        self._call("defragment", lambda s, t: s.maintenance.Defragment(request, timeout=t), defrag_deadline)
        self._nospace.defragmented(revision)
        size = self._status(defrag_deadline).dbSize
        if not self._nospace.may_disarm(size):
            log.warning(
                "etcd store: NOSPACE: the database is still %d bytes after defragmentation, not under %d; "
                "trying again as records expire",
                size,
                self._nospace.threshold_bytes(),
            )
            return
        for member in members:
            disarm = etcdrpc.AlarmRequest(
                action=etcdrpc.AlarmRequest.DEACTIVATE, memberID=member, alarm=etcdrpc.NOSPACE
            )
            self._call(
                "alarm disarm", lambda s, t, r=disarm: s.maintenance.Alarm(r, timeout=t), defrag_deadline
            )
        log.warning("etcd store: NOSPACE disarmed: the database is down to %d bytes", size)

    def _status(self, deadline: float) -> Any:
        return self._call(
            "status", lambda s, t: s.maintenance.Status(etcdrpc.StatusRequest(), timeout=t), deadline
        )

    def _probe_write(self, deadline: float) -> None:
        """While writes are failing, one small put a keeper pass: its success closes the breaker."""
        request = etcdrpc.PutRequest(key=self._probe_key, value=b"1")
        put = lambda s, t: s.kv.Put(request, timeout=t, metadata=REQUIRE_LEADER)  # noqa: E731
        self._call("probe write", put, deadline, write=True)

    def _compact(self, revision: int, deadline: float, *, physical: bool = False) -> None:
        """`physical`: answer once the compacted revisions are gone from the backend, not before."""
        request = etcdrpc.CompactionRequest(revision=revision, physical=physical)
        try:
            self._call("compact", lambda s, t: s.kv.Compact(request, timeout=t), deadline)
        except StoreUnavailableError as error:  # e.g. another replica compacted further already
            log.info("etcd store: compaction up to revision %d skipped: %s", revision, error)
            return
        log.info("etcd store: compacted etcd history up to revision %d", revision)
