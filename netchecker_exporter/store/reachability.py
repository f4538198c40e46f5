"""Whether a remote store is usable, with one log line per change of each fact.

Four facts, each set by whichever thread learnt it last: calls succeed; the watch runs; writes
succeed; no alarm is raised. A successful read (Status) says nothing about writes: while etcd is
out of space it answers Status and refuses every put, so only a write that succeeds, or the
keeper's probe write once the alarm is gone, marks writes good again (no flip-flop).
"""

from __future__ import annotations

import logging
import threading

from netchecker_exporter.store.base import StoreHealth

log = logging.getLogger(__name__)


class Reachability:
    def __init__(self, where: str) -> None:
        self._where = where
        self._reachable: bool | None = None  # None: not known yet, so the first answer is logged
        self._watching: bool | None = None
        self._writes_ok = True
        self._write_detail = ""
        self._alarms: tuple[str, ...] = ()
        self._detail = f"connecting to {where}"
        self._ever_reachable = False
        self._lock = threading.Lock()

    def mark(self, reachable: bool, detail: str = "") -> None:  # noqa: FBT001 (the state, then why)
        with self._lock:
            changed = reachable != self._reachable
            again = self._ever_reachable
            self._reachable = reachable
            self._ever_reachable |= reachable
            if not reachable:
                self._detail = detail
        if changed and reachable:
            log.info("etcd store: %s is reachable%s", self._where, " again" if again else "")
        elif changed:
            log.warning(
                "etcd store: %s unreachable (%s); writes fail with 503 and reads serve "
                "the last mirror until it is back",
                self._where,
                detail,
            )

    def watching(self, watching: bool, detail: str = "") -> None:  # noqa: FBT001 (see mark)
        with self._lock:
            changed = watching != self._watching
            self._watching = watching
            if not watching:
                self._detail = detail
        if changed and watching:
            log.info("etcd store: watching %s", self._where)
        elif changed:
            log.warning("etcd store: not watching (%s); retrying", detail)

    def writes(self, ok: bool, detail: str = "") -> None:  # noqa: FBT001 (see mark)
        with self._lock:
            changed = ok != self._writes_ok
            self._writes_ok = ok
            if not ok:
                self._write_detail = detail
        if changed and ok:
            log.info("etcd store: writes succeed again")
        elif changed:
            log.warning("etcd store: writes fail (%s); reports get 503 until a probe write succeeds", detail)

    def alarms(self, alarms: tuple[str, ...]) -> None:
        """The alarms etcd reports as raised (e.g. NOSPACE: out of its --quota-backend-bytes)."""
        with self._lock:
            changed = alarms != self._alarms
            self._alarms = alarms
        if changed and alarms:
            log.error("etcd store: etcd alarm %s raised: writes fail until it is disarmed", ", ".join(alarms))
        elif changed:
            log.info("etcd store: etcd alarms cleared")

    @property
    def writes_ok(self) -> bool:
        with self._lock:
            return self._writes_ok

    @property
    def alarmed(self) -> bool:
        with self._lock:
            return bool(self._alarms)

    def write_refusal(self) -> str | None:
        """Why a write would fail now (fail fast: no request waits a full deadline), or None."""
        with self._lock:
            if self._alarms:
                return f"etcd alarm {', '.join(self._alarms)} is raised: etcd refuses writes"
            if not self._writes_ok:
                return f"etcd writes are failing ({self._write_detail}); retrying in the background"
            if self._reachable is False:
                return f"etcd is unreachable ({self._detail}); retrying in the background"
            return None

    def health(self) -> StoreHealth:
        refusal = self.write_refusal()
        with self._lock:
            up = bool(self._reachable and self._watching) and refusal is None
            return StoreHealth(up=up, detail="" if up else refusal or self._detail)
