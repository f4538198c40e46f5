"""How many agents a store may hold: -max-agents, and -max-unlisted-agents for pods the pod source
does not list (yet), so a flood of made-up names can neither grow memory nor crowd out real pods.

Pure apart from a lock and a clock: the store asks admit() for new names only; known agents are
never refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from netchecker_exporter.errors import AgentLimitError

REFRESH_SECONDS = 1.0
"""How often the listed names and the unlisted count are recomputed (O(agents)) under a flood."""

ListedNames = Callable[[], Iterable[str]]


class AgentCapacity:
    """With no pod list (`listed` None) every agent counts against `max_agents`. With one, listed
    pods count against `max_agents` and the others against `max_unlisted` alone: the watch may lag
    a new pod by a second, so its first reports are kept, but made-up names cannot take its slot."""

    def __init__(
        self,
        *,
        max_agents: int,
        max_unlisted: int = 0,
        listed: ListedNames | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_agents = max_agents
        self._max_unlisted = max_unlisted
        self._listed_source = listed
        self._monotonic = monotonic
        self._listed: frozenset[str] = frozenset()
        self._unlisted = 0
        self._refreshed = -REFRESH_SECONDS
        self._lock = threading.Lock()

    def admit(self, name: str, count: int, names: Callable[[], Iterable[str]]) -> None:
        """May the new agent `name` join the `count` stored ones (`names`)? Raise AgentLimitError if not."""
        if self._listed_source is None:
            if count >= self.max_agents:
                raise _limit_error("max-agents", self.max_agents, "agents", "agent_limit")
            return
        with self._lock:
            self._refresh(names)
            if name in self._listed:
                if count - self._unlisted >= self.max_agents:
                    raise _limit_error("max-agents", self.max_agents, "listed agents", "agent_limit")
                return
            if self._unlisted >= self._max_unlisted:
                limit = self._max_unlisted
                raise _limit_error("max-unlisted-agents", limit, "unlisted agents", "unlisted_limit")
            self._unlisted += 1

    def _refresh(self, names: Callable[[], Iterable[str]]) -> None:
        now = self._monotonic()
        if now - self._refreshed < REFRESH_SECONDS or self._listed_source is None:
            return
        self._refreshed = now
        self._listed = frozenset(self._listed_source())
        self._unlisted = sum(1 for name in names() if name not in self._listed)


def _limit_error(flag: str, limit: int, what: str, reason: str) -> AgentLimitError:
    return AgentLimitError(
        f"{limit} {what} are stored (-{flag}): a new agent is refused until one expires",
        reason=reason,
    )
