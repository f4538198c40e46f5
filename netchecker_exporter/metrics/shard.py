"""Which agents, nodes and probe targets this replica exports when /metrics is sharded.

Pure. Borrowed from kube-state-metrics' `--shard` / `--total-shards`: every replica judges the
whole fleet, and each exports the per-object series of its share only, chosen by a stable hash.
A node's two agents and its per-node series hash the node name (the pod name when the node is
unknown), so one shard holds all of a node; a probe target's series hash its URL. The fleet
gauges are one value for the fleet and only shard 0 exports them (docs/scaling.md says why).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.diagnosis.history import History, NodeHistory
from netchecker_exporter.diagnosis.nodes import Diagnosis
from netchecker_exporter.metrics.families import Family, ServerState

FLEET_FAMILIES = frozenset(
    {"netchecker_agents_expected", "netchecker_agents_absent", "netchecker_agents_outdated"}
)
"""The server-state families that count the whole fleet: exported by shard 0 alone."""


def shard_of(key: str, total: int) -> int:
    """The shard of `key`: the same in every process and release (Python's hash() is salted)."""
    digest = hashlib.blake2b(key.encode(errors="surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % total


def agent_key(verdict: AgentVerdict) -> str:
    """What places an agent: its node (so both agents of a node land together), else its pod."""
    return verdict.node or verdict.pod.name


@dataclass(frozen=True, slots=True)
class MetricsShard:
    """This replica's shard: `ordinal` of `total` (0 of 1: not sharded, everything is exported)."""

    ordinal: int = 0
    total: int = 1

    @property
    def exports_fleet(self) -> bool:
        """The fleet gauges (agents expected, absent, outdated; nodes and cluster verdicts)."""
        return self.ordinal == 0

    def server_families(self, families: tuple[Family[ServerState], ...]) -> tuple[Family[ServerState], ...]:
        """`families` less the fleet gauges, unless this shard exports them."""
        if self.exports_fleet:
            return families
        return tuple(family for family in families if family.name not in FLEET_FAMILIES)

    def owns(self, key: str) -> bool:
        return self.total <= 1 or shard_of(key, self.total) == self.ordinal

    def agents(self, verdicts: tuple[AgentVerdict, ...]) -> tuple[AgentVerdict, ...]:
        """This shard's agents, in the fleet's order."""
        if self.total <= 1:
            return verdicts
        return tuple(verdict for verdict in verdicts if self.owns(agent_key(verdict)))

    def diagnosis(self, diagnosis: Diagnosis) -> Diagnosis:
        """The diagnosis with this shard's nodes and targets only; the cluster summary stays whole."""
        if self.total <= 1:
            return diagnosis
        nodes = tuple(node for node in diagnosis.nodes if self.owns(node.node))
        targets = tuple(target for target in diagnosis.targets if self.owns(target.url))
        return replace(diagnosis, nodes=nodes, targets=targets)

    def history(self, history: History) -> History:
        """The history of this shard's nodes only (its node series: verdict changes)."""
        if self.total <= 1:
            return history
        nodes: Mapping[str, NodeHistory] = {name: n for name, n in history.nodes.items() if self.owns(name)}
        return replace(history, nodes=MappingProxyType(dict(nodes)))


NO_SHARDING = MetricsShard()


class ShardedVerdicts:
    """MetricsShard.agents of the last Snapshot's verdicts, kept: the agent cache tells a Snapshot
    it has already written by the identity of the tuple it is given."""

    def __init__(self, shard: MetricsShard) -> None:
        self._shard = shard
        self._last: tuple[tuple[AgentVerdict, ...], tuple[AgentVerdict, ...]] | None = None

    def __call__(self, verdicts: tuple[AgentVerdict, ...]) -> tuple[AgentVerdict, ...]:
        last = self._last
        if last is not None and last[0] is verdicts:
            return last[1]
        mine = self._shard.agents(verdicts)
        self._last = (verdicts, mine)
        return mine


class ShardMetrics(Collector):
    """Which shard this replica is, as kube-state-metrics says it: replicas that disagree on the
    total export some agents twice and others not at all, and these show it."""

    def __init__(self, shard: MetricsShard) -> None:
        self._shard = shard

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "netchecker_metrics_shard_ordinal",
            "This replica's shard of /metrics (-shard, or -pod's ordinal).",
            value=self._shard.ordinal,
        )
        yield GaugeMetricFamily(
            "netchecker_metrics_total_shards",
            "How many shards /metrics is split into (-total-shards; 1: not sharded).",
            value=self._shard.total,
        )
