"""Timeouts, paging, retry backoff and list-mode pace of the Kubernetes list + watch loop."""

from __future__ import annotations

from dataclasses import dataclass

from netchecker_exporter.pods.sync_mode import WATCH_PROBE_EVERY_LISTS


@dataclass(frozen=True, slots=True)
class WatchTiming:
    """Timeouts, paging and backoff of the list + watch loop (tests shorten them)."""

    watch_timeout_seconds: int = 300
    """The server ends each watch after this, randomised up to twice as long as client-go does."""
    watch_idle_seconds: float = 150.0
    """No byte for this long on a watch: the connection is presumed dead and the watch resumed.
    The API server sends a bookmark about every minute, so a live watch is never this quiet."""
    request_timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    page_size: int = 500
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    list_interval_seconds: float = 10.0
    """Between two lists while RBAC forbids the watch: the CLI passes -check-interval."""
    watch_probe_every_lists: int = WATCH_PROBE_EVERY_LISTS


def backoff_seconds(timing: WatchTiming, attempt: int, fraction: float) -> float:
    """0 for attempt 0, then exponential with jitter: base * 2^(attempt-1) * (0.5 + fraction/2), capped.

    `fraction` is a random number in [0, 1): replicas that lost the API together retry apart.
    """
    if attempt <= 0:
        return 0.0
    ceiling = min(timing.backoff_max_seconds, timing.backoff_base_seconds * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + fraction / 2)
