"""The diagnosis as metric families: per-node verdict, clock skew, reboots; per-URL and cluster verdicts.

The exposition renders them from the same Snapshot as the agents' lines, so one body never mixes
two passes (docs/architecture.md#one-scrape-one-snapshot); a Snapshot's families are built once.

Cardinality follows trouble, not cluster size: `netchecker_node_verdict` carries the current
verdict (value 1) of each node that is not healthy, and nothing for a healthy one (one-hot over
eleven verdicts would be 55,000 series at 5,000 nodes; a series per healthy node says no more than
`netchecker_nodes{verdict="healthy"}`); when a node recovers, its series goes stale at the next
scrape. `netchecker_node_reboots_total` appears at a node's first reboot seen, and
`netchecker_node_verdict_changes_total` at its first verdict change. The clock skew is
exported for every node whose skew is known, as a value worth graphing.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from netchecker_exporter.diagnosis.history import EMPTY_HISTORY, History
from netchecker_exporter.diagnosis.nodes import CLUSTER_VERDICTS, Diagnosis, NodeVerdict, TargetVerdict


def diagnosis_families(
    diagnosis: Diagnosis, history: History = EMPTY_HISTORY, *, fleet: bool = True
) -> list[Metric]:
    """Every family of one diagnosis (and the history of the same pass), in a fixed order; the
    cluster families only with `fleet` (metrics/shard.py: one shard exports them)."""
    return [
        *node_families(diagnosis),
        history_family(history),
        *target_families(diagnosis),
        *(cluster_families(diagnosis) if fleet else []),
    ]


def history_family(history: History) -> Metric:
    """Like the reboots: a node's series appears at its first change seen, and it is kept with the
    history (in etcd, across restarts)."""
    changes = CounterMetricFamily(
        "netchecker_node_verdict_changes",
        "Changes of the node's verdict (as the checks give it, before the flapping rule).",
        labels=["node"],
    )
    for name, node in history.nodes.items():
        if node.changes_total:
            changes.add_metric([name], node.changes_total)
    return changes


def node_families(diagnosis: Diagnosis) -> list[Metric]:
    verdict = GaugeMetricFamily(
        "netchecker_node_verdict",
        "The diagnosis of each node that is not healthy (its current verdict, value 1).",
        labels=["node", "verdict"],
    )
    skew = GaugeMetricFamily(
        "netchecker_node_clock_skew_seconds",
        "The node's clock minus the server's receive time, from its freshest agents' hostdate.",
        labels=["node"],
    )
    reboots = CounterMetricFamily(
        "netchecker_node_reboots",
        "Reboots seen (the node's uptime went down between reports).",
        labels=["node"],
    )
    boot = GaugeMetricFamily(
        "netchecker_node_boot_timestamp_seconds",
        "When the node last booted, as of a reboot seen.",
        labels=["node"],
    )
    for node in diagnosis.nodes:
        if node.verdict is not NodeVerdict.HEALTHY:
            verdict.add_metric([node.node, node.verdict.value], 1.0)
        if node.clock_skew_seconds is not None:
            skew.add_metric([node.node], node.clock_skew_seconds)
        if node.reboots:
            reboots.add_metric([node.node], node.reboots)
        if node.last_boot_timestamp is not None:
            boot.add_metric([node.node], node.last_boot_timestamp)
    return [verdict, skew, reboots, boot]


def target_families(diagnosis: Diagnosis) -> list[Metric]:
    verdict = GaugeMetricFamily(
        "netchecker_probe_target_verdict",
        "Per probed URL, one-hot: ok, failing_from_some_nodes (a path problem), down (from every node).",
        labels=["url", "verdict"],
    )
    probing = GaugeMetricFamily(
        "netchecker_probe_target_nodes", "Nodes whose fresh agents probe the URL.", labels=["url"]
    )
    failing = GaugeMetricFamily(
        "netchecker_probe_target_failing_nodes", "Nodes from which a probe of the URL fails.", labels=["url"]
    )
    for target in diagnosis.targets:
        for state in TargetVerdict:
            verdict.add_metric([target.url, state.value], 1.0 if target.verdict is state else 0.0)
        probing.add_metric([target.url], target.nodes_probing)
        failing.add_metric([target.url], len(target.failing_nodes))
    return [verdict, probing, failing]


def cluster_families(diagnosis: Diagnosis) -> list[Metric]:
    cluster = diagnosis.cluster
    verdict = GaugeMetricFamily(
        "netchecker_cluster_verdict",
        "The cluster's diagnosis, one-hot: healthy, degraded, or the verdict most nodes share.",
        labels=["verdict"],
    )
    for value in CLUSTER_VERDICTS:
        verdict.add_metric([value], 1.0 if cluster.verdict == value else 0.0)
    counts = GaugeMetricFamily("netchecker_nodes", "Nodes by diagnosis verdict.", labels=["verdict"])
    for node_verdict in NodeVerdict:
        counts.add_metric([node_verdict.value], cluster.counts.get(node_verdict, 0))
    return [verdict, counts]
