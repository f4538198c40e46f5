"""Whether a remote store is reachable and its mirror current, with a log line on every change."""

from __future__ import annotations

import logging
import threading

from netchecker_exporter.store.base import StoreHealth

log = logging.getLogger(__name__)


class Reachability:
    """Two facts, each set by whichever thread learnt it last: calls succeed; the watch runs."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._reachable: bool | None = None  # None: not known yet, so the first answer is logged
        self._watching: bool | None = None
        self._detail = f"connecting to {where}"
        self._ever_reachable = False
        self._lock = threading.Lock()

    # Positional booleans kept for now: store/etcd.py calls these and is being edited by the etcd-health
    # work in parallel; make them keyword-only once both have merged.
    def mark(self, reachable: bool, detail: str = "") -> None:  # noqa: FBT001
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

    def watching(self, watching: bool, detail: str = "") -> None:  # noqa: FBT001
        with self._lock:
            changed = watching != self._watching
            self._watching = watching
            if not watching:
                self._detail = detail
        if changed and watching:
            log.info("etcd store: watching %s", self._where)
        elif changed:
            log.warning("etcd store: not watching (%s); retrying", detail)

    def health(self) -> StoreHealth:
        with self._lock:
            up = bool(self._reachable and self._watching)
            return StoreHealth(up=up, detail="" if up else self._detail)
