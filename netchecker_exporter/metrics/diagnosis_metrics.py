"""The diagnosis as metric families: per-node verdict, clock skew, reboots; per-URL and cluster verdicts.

The exposition renders them from the same Snapshot as the agents' lines, so one body never mixes
two passes (docs/architecture.md#one-scrape-one-snapshot). They are rows of the family table
(families.py) over one pass's diagnosis and history: /metrics writes their lines with the agents'
writer (agent_lines.py), once per diagnosis, and the test oracle encodes the same rows with
prometheus_client (prometheus_client took 33 ms of CPU for 5,000 nodes' clock skew in OpenMetrics).

Cardinality follows trouble, not cluster size: `netchecker_node_verdict` carries the current
verdict (value 1) of each node that is not healthy, and nothing for a healthy one (one-hot over
eleven verdicts would be 55,000 series at 5,000 nodes; a series per healthy node says no more than
`netchecker_nodes{verdict="healthy"}`); when a node recovers, its series goes stale at the next
scrape. `netchecker_node_reboots_total` appears at a node's first reboot seen, and
`netchecker_node_verdict_changes_total` at its first verdict change. The clock skew is
exported for every node whose skew is known, as a value worth graphing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import Metric

from netchecker_exporter.diagnosis.history import EMPTY_HISTORY, History
from netchecker_exporter.diagnosis.nodes import CLUSTER_VERDICTS, Diagnosis, NodeVerdict, TargetVerdict
from netchecker_exporter.metrics.agent_lines import family_lines
from netchecker_exporter.metrics.client_families import metric_family
from netchecker_exporter.metrics.families import Family, Sample


@dataclass(frozen=True, slots=True)
class DiagnosisRow:
    """What the diagnosis families read: one pass's diagnosis, and the history of the same pass."""

    diagnosis: Diagnosis
    history: History = EMPTY_HISTORY


def _node_verdicts(row: DiagnosisRow) -> Iterator[Sample]:
    for node in row.diagnosis.nodes:
        if node.verdict is not NodeVerdict.HEALTHY:
            yield (node.node, node.verdict.value), 1.0


def _clock_skews(row: DiagnosisRow) -> Iterator[Sample]:
    for node in row.diagnosis.nodes:
        if node.clock_skew_seconds is not None:
            yield (node.node,), float(node.clock_skew_seconds)


def _reboots(row: DiagnosisRow) -> Iterator[Sample]:
    for node in row.diagnosis.nodes:
        if node.reboots:
            yield (node.node,), float(node.reboots)


def _boots(row: DiagnosisRow) -> Iterator[Sample]:
    for node in row.diagnosis.nodes:
        if node.last_boot_timestamp is not None:
            yield (node.node,), float(node.last_boot_timestamp)


def _verdict_changes(row: DiagnosisRow) -> Iterator[Sample]:
    """Like the reboots: a node's series appears at its first change seen, and it is kept with the
    history (in etcd, across restarts)."""
    for name, node in row.history.nodes.items():
        if node.changes_total:
            yield (name,), float(node.changes_total)


def _target_verdicts(row: DiagnosisRow) -> Iterator[Sample]:
    for target in row.diagnosis.targets:
        for state in TargetVerdict:
            yield (target.url, state.value), 1.0 if target.verdict is state else 0.0


def _targets_probing(row: DiagnosisRow) -> Iterator[Sample]:
    for target in row.diagnosis.targets:
        yield (target.url,), float(target.nodes_probing)


def _targets_failing(row: DiagnosisRow) -> Iterator[Sample]:
    for target in row.diagnosis.targets:
        yield (target.url,), float(len(target.failing_nodes))


def _cluster_verdict(row: DiagnosisRow) -> Iterator[Sample]:
    for value in CLUSTER_VERDICTS:
        yield (value,), 1.0 if row.diagnosis.cluster.verdict == value else 0.0


def _node_counts(row: DiagnosisRow) -> Iterator[Sample]:
    for node_verdict in NodeVerdict:
        yield (node_verdict.value,), float(row.diagnosis.cluster.counts.get(node_verdict, 0))


NODE_FAMILIES: tuple[Family[DiagnosisRow], ...] = (
    Family(
        "netchecker_node_verdict",
        "gauge",
        "The diagnosis of each node that is not healthy (its current verdict, value 1).",
        ("node", "verdict"),
        _node_verdicts,
    ),
    Family(
        "netchecker_node_clock_skew_seconds",
        "gauge",
        "The node's clock minus the server's receive time, from its freshest agents' hostdate.",
        ("node",),
        _clock_skews,
    ),
    Family(
        "netchecker_node_reboots",
        "counter",
        "Reboots seen (the node's uptime went down between reports).",
        ("node",),
        _reboots,
    ),
    Family(
        "netchecker_node_boot_timestamp_seconds",
        "gauge",
        "When the node last booted, as of a reboot seen.",
        ("node",),
        _boots,
    ),
)

HISTORY_FAMILY: Family[DiagnosisRow] = Family(
    "netchecker_node_verdict_changes",
    "counter",
    "Changes of the node's verdict (as the checks give it, before the flapping rule).",
    ("node",),
    _verdict_changes,
)

TARGET_FAMILIES: tuple[Family[DiagnosisRow], ...] = (
    Family(
        "netchecker_probe_target_verdict",
        "gauge",
        "Per probed URL, one-hot: ok, failing_from_some_nodes (a path problem), down (from every node).",
        ("url", "verdict"),
        _target_verdicts,
    ),
    Family(
        "netchecker_probe_target_nodes",
        "gauge",
        "Nodes whose fresh agents probe the URL.",
        ("url",),
        _targets_probing,
    ),
    Family(
        "netchecker_probe_target_failing_nodes",
        "gauge",
        "Nodes from which a probe of the URL fails.",
        ("url",),
        _targets_failing,
    ),
)

CLUSTER_DIAGNOSIS_FAMILIES: tuple[Family[DiagnosisRow], ...] = (
    Family(
        "netchecker_cluster_verdict",
        "gauge",
        "The cluster's diagnosis, one-hot: healthy, degraded, or the verdict most nodes share.",
        ("verdict",),
        _cluster_verdict,
    ),
    Family("netchecker_nodes", "gauge", "Nodes by diagnosis verdict.", ("verdict",), _node_counts),
)


def diagnosis_table(*, fleet: bool = True) -> tuple[Family[DiagnosisRow], ...]:
    """Every diagnosis family, in a fixed order; the cluster families only with `fleet`
    (metrics/shard.py: one shard exports them). Every one is labelled, as agent_lines writes them."""
    return (*NODE_FAMILIES, HISTORY_FAMILY, *TARGET_FAMILIES, *(CLUSTER_DIAGNOSIS_FAMILIES if fleet else ()))


def diagnosis_lines(families: tuple[Family[DiagnosisRow], ...], row: DiagnosisRow) -> tuple[bytes, ...]:
    """Each family's sample lines, as prometheus_client writes them in both formats (its HELP and
    TYPE lines are the exposition's)."""
    escaped: dict[str, str] = {}  # a node's name is in up to five families
    return tuple(family_lines(family, family.samples(row), escaped).encode() for family in families)


def diagnosis_families(
    diagnosis: Diagnosis, history: History = EMPTY_HISTORY, *, fleet: bool = True
) -> list[Metric]:
    """The diagnosis table as prometheus_client families (the test oracle's, and the budget's)."""
    return _as_metrics(diagnosis_table(fleet=fleet), DiagnosisRow(diagnosis, history))


def node_families(diagnosis: Diagnosis) -> list[Metric]:
    return _as_metrics(NODE_FAMILIES, DiagnosisRow(diagnosis))


def target_families(diagnosis: Diagnosis) -> list[Metric]:
    return _as_metrics(TARGET_FAMILIES, DiagnosisRow(diagnosis))


def _as_metrics(families: tuple[Family[DiagnosisRow], ...], row: DiagnosisRow) -> list[Metric]:
    return [metric_family(family, family.samples(row)) for family in families]
