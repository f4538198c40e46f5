"""Watch or list: how the pod source keeps its pods current, and when it tries the other way.

kubespray's ClusterRole for the original server grants pods `get, list` and no `watch`, and the
original LISTed on every check. Refused a watch (403) twice running, we list every check interval
as it did, and try the watch again every few lists, so a grant added later is used without a
restart (docs/kubernetes.md, "Without watch"). Pure: the watch thread asks, and sleeps, itself.
"""

from __future__ import annotations

from enum import StrEnum

WATCH_PROBE_EVERY_LISTS = 6
"""While listing, every 6th list is followed by one watch attempt: once a minute at the default
-check-interval of 10 s. A refused watch costs the API server an authorisation check, no more."""


class SyncMode(StrEnum):
    """The `mode` label of netchecker_kubernetes_pod_sync_mode."""

    WATCH = "watch"
    """One list, then a watch that streams every change (needs pods: list, watch)."""
    LIST = "list"
    """A full list every check interval (needs pods: list): the watch was forbidden."""


class Refusal(StrEnum):
    """What one refused watch means."""

    FIRST = "first"
    """Maybe a restarted API server whose RBAC is not loaded yet (seen for half a second on a real
    one): the watch is tried once more after a check interval, still in watch mode."""
    CONFIRMED = "confirmed"
    """Refused again: the grant is missing. List mode starts; say so once."""
    AGAIN = "again"
    """A probe in list mode was refused: keep listing."""


class SyncModeState:
    """Which mode the source is in, and whether the next list should be followed by a watch probe."""

    def __init__(self, list_interval_seconds: float, probe_every_lists: int) -> None:
        self.list_interval_seconds = list_interval_seconds
        self.probe_every_lists = probe_every_lists
        self.mode = SyncMode.WATCH
        self._lists_since_probe = 0
        self._refused_once = False
        self._last_list: tuple[float, float] = (0.0, 0.0)

    @property
    def listing(self) -> bool:
        return self.mode is SyncMode.LIST

    @property
    def probe_seconds(self) -> float:
        """About how long between two watch attempts while listing."""
        return self.list_interval_seconds * self.probe_every_lists

    def listed(self, started: float, ended: float) -> None:
        """A full list came in; it started and ended at these monotonic times."""
        self._lists_since_probe += 1
        self._last_list = (started, ended)

    def seconds_to_next_list(self, now: float) -> float:
        """Lists start an interval apart (as the original's checks did), but the next never starts
        sooner than half an interval after the last ended: a slow API is not listed back to back."""
        started, ended = self._last_list
        next_start = max(started + self.list_interval_seconds, ended + self.list_interval_seconds / 2)
        return max(0.0, next_start - now)

    def watch_due(self) -> bool:
        """Watch now: always in watch mode, and after every `probe_every_lists` lists in list mode."""
        return not self.listing or self._lists_since_probe >= self.probe_every_lists

    def watch_forbidden(self) -> Refusal:
        """The API answered a watch with 403: try once more, or list from now on."""
        self._lists_since_probe = 0
        if self.listing:
            return Refusal.AGAIN
        if not self._refused_once:
            self._refused_once = True
            return Refusal.FIRST
        self.mode = SyncMode.LIST
        return Refusal.CONFIRMED

    def watch_opened(self) -> bool:
        """The API accepted a watch: watch from now on. True when this ended list mode."""
        switched = self.listing
        self.mode = SyncMode.WATCH
        self._refused_once = False
        return switched
