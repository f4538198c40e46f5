"""/metrics sharded: the shards' series add up to the unsharded body, each series on one shard only,
a node whole on one shard, and the fleet gauges on shard 0 alone."""

from __future__ import annotations

from collections import defaultdict

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from netchecker_exporter.check import Network
from netchecker_exporter.diagnosis.nodes import diagnose
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.metrics.shard import (
    FLEET_FAMILIES,
    NO_SHARDING,
    MetricsShard,
    ShardMetrics,
    shard_of,
)
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from tests.support.diagnosis import NOW, PING, SETTINGS, Agent, probe, verdicts

Series = tuple[str, tuple[tuple[str, str], ...]]
FLEET = {*FLEET_FAMILIES, "netchecker_cluster_verdict", "netchecker_nodes"}
PER_REPLICA = {
    "netchecker_agents_unrenderable", "netchecker_reconcile_last_success_timestamp_seconds",
    "netchecker_reconcile_duration_seconds", "netchecker_reconcile_failures_total", "netchecker_store_up",
    "netchecker_pod_source_up", "netchecker_pod_source_last_sync_timestamp_seconds", "netchecker_build_info",
}  # fmt: skip


def fleet_snapshot() -> Snapshot:
    """40 nodes with a mix of faults, nine probe targets, one agent with no node."""
    agents: list[Agent] = []
    for index in range(40):
        node = f"node-{index}"
        target = f"http://target-{index % 9}.default.svc:8080/health"
        failing = index % 7 == 0
        probes = (probe(PING), probe(target, ok=not failing))
        agents.append(Agent(node, Network.POD, age=None if index % 11 == 0 else 1.0, probes=probes))
        agents.append(Agent(node, Network.HOST, age=100.0 if index % 5 == 0 else 1.0, probes=probes,
                            reboots=index % 3, boot=NOW - 50 if index % 3 else None))  # fmt: skip
    agents.append(Agent("", Network.POD, name="netchecker-agent-nodeless"))
    fleet = tuple(verdicts(agents))
    return Snapshot(
        fleet, StoreHealth(up=True), "static", PodSourceHealth(up=True, last_sync_timestamp=NOW),
        last_success_timestamp=NOW, last_duration_seconds=0.1, diagnosis=diagnose(fleet, NOW, SETTINGS),
    )  # fmt: skip


def scrape(snapshot: Snapshot, shard: MetricsShard) -> dict[Series, float]:
    registry = CollectorRegistry()
    body, _ = MetricsExposition(lambda: snapshot, registry, version="1.2.3", shard=shard).render("", "")
    samples: dict[Series, float] = {}
    for family in text_string_to_metric_families(body.read().decode()):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples
            samples[key] = sample.value
    return samples


@pytest.mark.parametrize("total", [2, 3, 5])
def test_the_shards_add_up_to_the_unsharded_body_with_each_series_once(total: int) -> None:
    snapshot = fleet_snapshot()
    whole = scrape(snapshot, NO_SHARDING)
    shards = [scrape(snapshot, MetricsShard(ordinal, total)) for ordinal in range(total)]
    union: dict[Series, float] = {}
    for ordinal, samples in enumerate(shards):
        for key, value in samples.items():
            name = key[0]
            if name in PER_REPLICA:
                assert value == whole[key] or name == "netchecker_agents_unrenderable"
                continue
            assert name not in FLEET or ordinal == 0, f"{name} on shard {ordinal}"
            assert key not in union, f"{key} on two shards"
            union[key] = value
    assert union == {key: value for key, value in whole.items() if key[0] not in PER_REPLICA}
    assert all(len(samples) < len(whole) for samples in shards)


def test_a_node_s_agents_and_its_node_series_are_on_one_shard() -> None:
    snapshot = fleet_snapshot()
    where: dict[str, set[int]] = defaultdict(set)
    for ordinal in range(3):
        for name, labels in scrape(snapshot, MetricsShard(ordinal, 3)):
            node = dict(labels).get("node")
            if node is not None and name.startswith(("netchecker_agent_", "netchecker_node_")):
                where[node].add(ordinal)
    assert len(where) == 41  # 40 nodes and the nodeless agent's empty node
    del where[""]  # agents with no node spread by pod name; the diagnosis' nodeless group by ""
    assert all(len(shards) == 1 for shards in where.values()), where
    assert {next(iter(shards)) for shards in where.values()} == {0, 1, 2}


def test_the_placement_is_stable_across_processes_and_releases() -> None:
    """A changed hash would move series between shards at an upgrade: pinned here."""
    assert [shard_of(f"node-{index}", 3) for index in range(8)] == PINNED
    assert shard_of("node-1", 1) == 0


PINNED = [2, 1, 2, 0, 1, 2, 1, 0]
"""blake2b (8 bytes, big-endian) of the node name, modulo 3."""


def test_each_replica_says_which_shard_it_is_of_how_many() -> None:
    registry = CollectorRegistry()
    registry.register(ShardMetrics(MetricsShard(2, 3)))
    assert registry.get_sample_value("netchecker_metrics_shard_ordinal") == 2
    assert registry.get_sample_value("netchecker_metrics_total_shards") == 3
