"""Agents in a fixed order, cut into runs whose lines are kept compressed per family (deflate_run.py).

A new order is laid out again from the last runs: a run whose agents come in the same order and
kept their lines is reused as it is (the same object); the others' agents are gathered, their
lines taken from the runs they were in (each inflated once) or from what was written anew, and
compressed again as new runs. Runs of fewer than a quarter of the size asked for are merged with
a neighbour as they are rebuilt, so agents coming and going one at a time do not leave a trail of
tiny runs behind them (each costs a compressor's start and a few bytes of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.metrics.deflate_run import DeflateRun, deflate_run, pieces

AgentKey = tuple[str, str]
"""An agent's namespace and pod name."""
Lines = tuple[bytes, ...]
"""One agent's lines, per family."""
Placed = tuple[AgentKey, AgentVerdict]
"""An agent in an order, with the verdict its lines were written from."""


@dataclass(frozen=True, slots=True, eq=False)
class AgentRun:
    """Consecutive agents, the verdicts their lines were written from, and each family's lines of
    all of them compressed as one run."""

    keys: tuple[AgentKey, ...]
    verdicts: tuple[AgentVerdict, ...]
    families: tuple[DeflateRun, ...]

    @property
    def count(self) -> int:
        return len(self.keys)

    def lines(self) -> list[Lines]:
        """Each agent's lines per family, inflated."""
        per_family = [pieces(run) for run in self.families]
        return list(zip(*per_family, strict=True)) if per_family else [() for _ in self.keys]


@dataclass(frozen=True, slots=True)
class AgentRuns:
    """A Snapshot's agents' lines: the agent families' runs in verdict order, the legacy families'
    in the legacy order (none without legacy metrics)."""

    agent: tuple[AgentRun, ...]
    legacy: tuple[AgentRun, ...]
    rebuilt: int
    """How many runs were compressed anew for this Snapshot (the others are the last Snapshot's)."""


def agent_run(placed: Sequence[Placed], lines: Sequence[Lines], families: int) -> AgentRun:
    """A run of `placed` with their `lines` (one tuple of `families` pieces per agent)."""
    columns = list(zip(*lines, strict=True)) if lines else [() for _ in range(families)]
    return AgentRun(
        tuple(key for key, _ in placed),
        tuple(verdict for _, verdict in placed),
        tuple(map(deflate_run, columns)),
    )


def reindex(
    index: dict[AgentKey, tuple[AgentRun, int]], last: Sequence[AgentRun], runs: Sequence[AgentRun]
) -> None:
    """Make `index`, where each agent of the `last` runs is (its run and its place in it), say
    where the agents of `runs` are, touching only the runs that came or went."""
    now, before = set(runs), set(last)
    for run in last:
        if run not in now:
            for key in run.keys:
                del index[key]
    for run in runs:
        if run not in before:
            index.update((key, (run, place)) for place, key in enumerate(run.keys))


class RunLines:
    """The lines of agents in some runs, looked up by key; a run is inflated once, on first use."""

    def __init__(self, index: Mapping[AgentKey, tuple[AgentRun, int]]) -> None:
        self._index = index
        self._inflated: dict[AgentRun, list[Lines]] = {}

    def __contains__(self, key: AgentKey) -> bool:
        return key in self._index

    def __call__(self, key: AgentKey) -> Lines:
        run, place = self._index[key]
        lines = self._inflated.get(run)
        if lines is None:
            lines = self._inflated[run] = run.lines()
        return lines[place]

    @property
    def inflated(self) -> int:
        """How many runs were inflated so far."""
        return len(self._inflated)


@dataclass(frozen=True, slots=True)
class Layout:
    """How runs are cut and where their lines come from, for one rebuild."""

    run_agents: int
    families: int
    written: Mapping[AgentKey, Lines]
    """The agents written anew since the last runs: their lines."""
    kept: Callable[[AgentKey], Lines]
    """The lines of any other agent (from the runs it was in)."""

    @property
    def smallest(self) -> int:
        return max(1, self.run_agents // 4)


def laid_out(
    order: Sequence[Placed], last: Mapping[AgentKey, tuple[AgentRun, int]], layout: Layout
) -> tuple[list[AgentRun], int]:
    """`order` as runs, reusing the `last` runs it still holds whole; and how many runs were built anew."""
    runs: list[AgentRun] = []
    reused: list[bool] = []
    pending: list[Placed] = []
    position = 0
    while position < len(order):
        run = _reusable(order, position, last, layout.written)
        if run is not None and pending and min(len(pending), run.count) < layout.smallest:
            run = None  # merge the small one with its neighbour rather than keep it small
        if run is None:
            pending.append(order[position])
            position += 1
            continue
        _flush(pending, runs, reused, layout)
        runs.append(run)
        reused.append(True)
        position += run.count
    _flush(pending, runs, reused, layout)
    return runs, reused.count(False)


def _reusable(
    order: Sequence[Placed], position: int, last: Mapping[AgentKey, tuple[AgentRun, int]],
    written: Mapping[AgentKey, Lines],
) -> AgentRun | None:  # fmt: skip
    """The last run that starts at `position` and that `order` holds whole and unchanged there."""
    key = order[position][0]
    found = last.get(key)
    if found is None or found[1] != 0:
        return None
    run = found[0]
    keys = tuple(key for key, _ in order[position : position + run.count])
    if keys != run.keys or any(key in written for key in keys):
        return None
    return run


def _flush(pending: list[Placed], runs: list[AgentRun], reused: list[bool], layout: Layout) -> None:
    """Build `pending` into runs of even sizes (a small remainder takes back the run before it)."""
    if not pending:
        return
    if len(pending) < layout.smallest and runs and reused[-1]:
        previous = runs.pop()
        reused.pop()
        pending[:0] = zip(previous.keys, previous.verdicts, strict=True)
    for part in _even_parts(pending, layout.run_agents):
        lines = [layout.written[key] if key in layout.written else layout.kept(key) for key, _ in part]
        runs.append(agent_run(part, lines, layout.families))
        reused.append(False)
    pending.clear()


def _even_parts(items: Sequence[Placed], most: int) -> Iterator[Sequence[Placed]]:
    """`items` cut into as few parts of at most `most` as can be, of sizes within one of each other."""
    parts = -(-len(items) // most)
    size, larger = divmod(len(items), parts)
    start = 0
    for part in range(parts):
        end = start + size + (part < larger)
        yield items[start:end]
        start = end
