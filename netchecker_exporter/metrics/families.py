"""The one table of metric families /metrics exports: name, type, help, labels, and their samples.

Both writers derive from it: client_families.py turns it into prometheus_client families (the small
families at every scrape, and the test oracle for all of them) and agent_lines.py writes the
per-agent families (agent_families.py) line by line. Adding a label or a family is one edit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from netchecker_exporter.check import AgentStatus, AgentVerdict
from netchecker_exporter.snapshot import Snapshot

Row = TypeVar("Row")
Sample = tuple[tuple[str, ...], float]
"""Label values (in the family's label order) and the value."""


@dataclass(frozen=True, slots=True)
class Family(Generic[Row]):
    """One metric family and how to read its samples from a row (a verdict, the server state)."""

    name: str
    """As prometheus_client names it: a counter's samples add `_total`, an info's `_info`."""
    kind: Literal["counter", "gauge", "info"]
    help: str
    labels: tuple[str, ...]
    samples: Callable[[Row], Iterable[Sample]]


@dataclass(frozen=True, slots=True)
class LegacyRow:
    """A verdict under the original's `agent` label (the newest record of that label wins)."""

    agent: str
    verdict: AgentVerdict


@dataclass(frozen=True, slots=True)
class ServerState:
    """What the server-wide families read: the snapshot, the build, the agents that could not render."""

    snapshot: Snapshot
    version: str
    unrenderable: int


def _value(read: Callable[[ServerState], float | None]) -> Callable[[ServerState], Iterator[Sample]]:
    """One unlabelled sample, or none when `read` says None (never happened: no invented value)."""

    def samples(state: ServerState) -> Iterator[Sample]:
        value = read(state)
        if value is not None:
            yield (), float(value)

    return samples


def _count(status: AgentStatus) -> Callable[[ServerState], float]:
    return lambda state: sum(1 for v in state.snapshot.verdicts if v.status is status)


CLUSTER_FAMILIES: tuple[Family[ServerState], ...] = (
    Family(
        "netchecker_agents_expected",
        "gauge",
        "Agent pods expected to report.",
        (),
        _value(lambda state: len(state.snapshot.verdicts)),
    ),
    Family(
        "netchecker_agents_absent",
        "gauge",
        "Expected agents with no stored report.",
        (),
        _value(_count(AgentStatus.ABSENT)),
    ),
    Family(
        "netchecker_agents_outdated",
        "gauge",
        "Agents whose last report is older than 2 x their report interval.",
        (),
        _value(_count(AgentStatus.OUTDATED)),
    ),
    Family(
        "netchecker_agents_unrenderable",
        "gauge",
        "Agents left out of /metrics because their record could not be rendered (see the log).",
        (),
        _value(lambda state: state.unrenderable),
    ),
)

HEALTH_FAMILIES: tuple[Family[ServerState], ...] = (
    Family(
        "netchecker_reconcile_last_success_timestamp_seconds",
        "gauge",
        "When the last reconcile pass succeeded (0: never).",
        (),
        _value(lambda state: state.snapshot.last_success_timestamp or 0.0),
    ),
    Family(
        "netchecker_reconcile_duration_seconds",
        "gauge",
        "Duration of the last successful reconcile pass.",
        (),
        _value(lambda state: state.snapshot.last_duration_seconds),
    ),
    Family(
        "netchecker_reconcile_failures",
        "counter",
        "Reconcile passes that failed.",
        (),
        _value(lambda state: state.snapshot.failures_total),
    ),
    Family(
        "netchecker_store_up",
        "gauge",
        "1 if the report store is reachable.",
        (),
        _value(lambda state: state.snapshot.store.up),
    ),
    Family(
        "netchecker_pod_source_up",
        "gauge",
        "1 if the pod source is in touch with its origin.",
        ("source",),
        lambda state: [((state.snapshot.pod_source_kind,), 1.0 if state.snapshot.pod_source.up else 0.0)],
    ),
    Family(
        "netchecker_pod_source_last_sync_timestamp_seconds",
        "gauge",
        "When the pod source last synced pods from its origin (no sample: it never did, e.g. static).",
        (),
        _value(lambda state: state.snapshot.pod_source.last_sync_timestamp),
    ),
    Family(
        "netchecker_build",
        "info",
        "Version of netchecker-exporter.",
        ("version",),
        lambda state: [((state.version,), 1.0)],
    ),
)
