"""Which client connections are held, per source address, as the RSGI handler sees them.

granian gives the app no hook when a connection opens or closes, only each request with its peer
("ip:port", one per connection). So a connection is known from its first request and forgotten when
it has been silent for the idle timeout: by then granian has closed it (its header-read timeout
also ends idle keep-alive connections). The count errs high (a connection closed by its client
stays until it would have timed out), never low, which is the safe side for a cap.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from enum import Enum


class Admission(Enum):
    KEEP = "keep"
    """Serve it, keep-alive as the client asks."""
    CLOSE_AFTER = "close_after"
    """Serve it, then close: the cap is near, and idle keep-alive connections are the first to go."""
    OVER_TOTAL = "connections"
    OVER_CLIENT = "connections_per_client"


@dataclass(frozen=True, slots=True)
class LedgerLimits:
    max_connections: int
    max_per_client: int
    idle_seconds: float
    evict_ratio: float = 0.9
    """From this share of max_connections on, reused connections are closed after their answer."""


class ConnectionLedger:
    """Connections by peer, oldest-used first; loop-only (no lock): every call is on the event loop."""

    def __init__(self, limits: LedgerLimits) -> None:
        self._limits = limits
        self._last_used: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._per_client: collections.Counter[str] = collections.Counter()
        self._evict_from = max(1, int(limits.max_connections * limits.evict_ratio))

    def __len__(self) -> int:
        return len(self._last_used)

    def held_by(self, host: str) -> int:
        return self._per_client[host]

    def admit(self, peer: str, now: float) -> Admission:
        """A request arrived on `peer`'s connection: count a new one, or refuse it over a cap."""
        self._forget_idle(now)
        if peer in self._last_used:
            self.touch(peer, now)
            return Admission.CLOSE_AFTER if len(self._last_used) >= self._evict_from else Admission.KEEP
        host = peer.rpartition(":")[0]
        if len(self._last_used) >= self._limits.max_connections:
            return Admission.OVER_TOTAL
        if self._per_client[host] >= self._limits.max_per_client:
            return Admission.OVER_CLIENT
        self._last_used[peer] = now
        self._per_client[host] += 1
        return Admission.CLOSE_AFTER if len(self._last_used) >= self._evict_from else Admission.KEEP

    def touch(self, peer: str, now: float) -> None:
        """The connection was used now (a request ended): it is not idle."""
        if peer in self._last_used:
            self._last_used[peer] = now
            self._last_used.move_to_end(peer)

    def closed(self, peer: str) -> None:
        """We answered with `connection: close` (or the client asked for it): the connection ends."""
        if self._last_used.pop(peer, None) is not None:
            self._drop_client(peer.rpartition(":")[0])

    def _forget_idle(self, now: float) -> None:
        horizon = now - self._limits.idle_seconds
        while self._last_used:
            peer, used = next(iter(self._last_used.items()))
            if used > horizon:
                return
            del self._last_used[peer]
            self._drop_client(peer.rpartition(":")[0])

    def _drop_client(self, host: str) -> None:
        self._per_client[host] -= 1
        if self._per_client[host] <= 0:
            del self._per_client[host]
