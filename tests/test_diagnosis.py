"""Diagnosis as tables: a node's agents -> one verdict with its reason; URLs; the cluster summary."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from netchecker_exporter.diagnosis.nodes import (
    DEGRADED_CLUSTER,
    HEALTHY_CLUSTER,
    UNKNOWN_CLUSTER,
    NodeVerdict,
    TargetVerdict,
    diagnose,
)
from tests.support.diagnosis import NOW, PING, SETTINGS, TARGET, Agent, node_agents, probe, verdicts

V = NodeVerdict
FAILING_TARGET = (probe(PING), probe(TARGET, ok=False))
HEALTHY_NEIGHBOURS = [a for n in ("n2", "n3", "n4") for a in node_agents(n)]

CASES: list[tuple[str, dict[str, Any], dict[str, Any], V, str]] = [
    # (case, pod agent changes, host agent changes, verdict, words in the reason)
    ("healthy", {}, {}, V.HEALTHY, "both networks report"),
    ("pod agent in its grace", {"age": None, "starting": True}, {}, V.STARTING, "not judged yet"),
    ("grace wins over silence", {"age": None, "starting": True}, {"age": 500}, V.STARTING, "start-up grace"),
    ("both silent", {"age": 300}, {"age": 100}, V.NODE_UNREACHABLE, "no agent has reported for 100 s"),
    ("never reported", {"age": None}, {}, V.AGENT_MISSING, "agent netchecker-agent-n1 is expected"),
    ("both never reported", {"age": None}, {"age": None}, V.AGENT_MISSING, "never reported"),
    ("pod agent silent", {"age": 95}, {}, V.POD_NETWORK_DOWN, "silent for 95 s while the host-network agent"),
    ("pod agent fails a probe", {"probes": FAILING_TARGET}, {}, V.POD_NETWORK_DOWN, "look at the CNI"),
    ("host agent silent", {}, {"age": 95}, V.HOST_NETWORK_DOWN, "agent netchecker-agent-hostnet-n1 has"),
    ("host agent fails a probe", {}, {"probes": FAILING_TARGET}, V.HOST_NETWORK_DOWN, "firewall"),
    ("both fail a probe", {"probes": FAILING_TARGET}, {"probes": FAILING_TARGET}, V.PROBE_FAILING,
     "fails from 1 of 4 nodes: a network problem between them and the target"),
    ("empty nslookup answer", {"nslookup": {"netchecker-service": ()}}, {}, V.DNS_FAILING,
     "DNS lookup of netchecker-service returned no address on the pod network"),
    ("clock ahead", {"skew": 45.0}, {"skew": 45.2}, V.CLOCK_SKEW, "45 s ahead of the server's"),
    ("clock behind", {}, {"skew": -31.0}, V.CLOCK_SKEW, "31 s behind"),
    ("clock within the threshold", {"skew": 29.0}, {}, V.HEALTHY, ""),
    ("recent reboot", {"reboots": 2, "boot": NOW - 120}, {}, V.REBOOTED, "rebooted 2 min ago"),
    ("old reboot", {"reboots": 1, "boot": NOW - 3600}, {}, V.HEALTHY, ""),
    ("missing wins over DNS", {"age": None}, {"nslookup": {"x": ()}}, V.AGENT_MISSING, ""),
    ("network down wins over skew", {"age": 95}, {"skew": 99.0}, V.POD_NETWORK_DOWN, ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pod", "host", "verdict", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_node_gets_one_verdict_with_its_reason(
    pod: dict[str, Any], host: dict[str, Any], verdict: NodeVerdict, words: str
) -> None:
    diagnosis = diagnose(verdicts([*node_agents("n1", pod, host), *HEALTHY_NEIGHBOURS]), NOW, SETTINGS)
    node = next(n for n in diagnosis.nodes if n.node == "n1")
    assert node.verdict is verdict, node.reason
    assert words in node.reason
    assert all(n.verdict is V.HEALTHY for n in diagnosis.nodes if n.node != "n1")


def test_every_finding_is_kept_as_evidence_worst_first() -> None:
    agents = node_agents("n1", {"age": 95}, {"skew": 99.0, "reboots": 1, "boot": NOW - 60})
    (node,) = diagnose(verdicts(agents), NOW, SETTINGS).nodes
    assert [f.verdict for f in node.findings] == [V.POD_NETWORK_DOWN, V.CLOCK_SKEW, V.REBOOTED]
    assert node.findings[1].data == {"skew_seconds": pytest.approx(99.0), "threshold_seconds": 30.0}
    assert node.findings[2].data["reboots"] == 1
    assert node.clock_skew_seconds == pytest.approx(99.0)
    assert (node.reboots, node.last_boot_timestamp) == (1, NOW - 60)


def test_the_page_columns_say_what_each_network_dns_clock_and_probes_do() -> None:
    agents = node_agents("n1", {"age": 95}, {"nslookup": {"netchecker-service": ()}, "skew": -3.0})
    (node,) = diagnose(verdicts(agents), NOW, SETTINGS).nodes
    aspects = {name: (a.ok, a.text) for name, a in node.aspects.items()}
    assert aspects == {
        "pod_network": (False, "silent: last report 95 s ago"),
        "host_network": (True, "reported 1 s ago; 2/2 probes ok"),
        "dns": (False, "no address for netchecker-service (host network)"),
        "clock": (True, "-3.0 s"),
        "probes": (True, "2 probes ok"),
    }


def test_nodes_are_listed_worst_first() -> None:
    agents = [*node_agents("a-ok"), *node_agents("b-dns", {"nslookup": {"x": ()}}), *node_agents("c-gone",
              {"age": 300}, {"age": 300})]  # fmt: skip
    assert [n.node for n in diagnose(verdicts(agents), NOW, SETTINGS).nodes] == ["c-gone", "b-dns", "a-ok"]


def _fleet(nodes: int, broken: set[int], **changes: Any) -> list[Agent]:
    return [a for i in range(nodes) for a in node_agents(f"n{i}", changes if i in broken else {})]


def test_a_target_failing_from_every_node_on_both_networks_is_down_and_blames_no_node() -> None:
    agents = [dataclasses.replace(a, probes=FAILING_TARGET) for a in _fleet(4, set())]
    diagnosis = diagnose(verdicts(agents), NOW, SETTINGS)
    target = {t.url: t for t in diagnosis.targets}[TARGET]
    assert target.verdict is TargetVerdict.DOWN
    assert target.failing_nodes == ("n0", "n1", "n2", "n3")
    assert "the target is down" in target.reason
    assert {n.verdict for n in diagnosis.nodes} == {V.HEALTHY}
    probes = diagnosis.nodes[0].aspects["probes"]
    assert (probes.ok, probes.text) == (None, "2 of 4 probes ok; 1 target down everywhere (not this node)")
    assert diagnosis.cluster.verdict == DEGRADED_CLUSTER
    assert f"target {TARGET} down" in diagnosis.cluster.reason


def test_a_target_failing_from_some_nodes_is_a_path_problem_on_those_nodes() -> None:
    agents = _fleet(5, set())
    agents = [dataclasses.replace(a, probes=FAILING_TARGET) if a.node in {"n1", "n3"} else a for a in agents]
    diagnosis = diagnose(verdicts(agents), NOW, SETTINGS)
    target = {t.url: t for t in diagnosis.targets}[TARGET]
    assert (target.verdict, target.failing_nodes, target.nodes_probing) == (
        TargetVerdict.FAILING_FROM_SOME_NODES, ("n1", "n3"), 5)  # fmt: skip
    assert "fails from 2 of 5 nodes (n1, n3)" in target.reason
    assert {n.node for n in diagnosis.nodes if n.verdict is V.PROBE_FAILING} == {"n1", "n3"}
    assert {t.url: t.verdict for t in diagnosis.targets}[PING] is TargetVerdict.OK


def test_one_node_failing_a_target_cannot_call_it_down() -> None:
    agents = [dataclasses.replace(a, probes=FAILING_TARGET) for a in node_agents("n1")]
    (target,) = [t for t in diagnose(verdicts(agents), NOW, SETTINGS).targets if t.url == TARGET]
    assert target.verdict is TargetVerdict.FAILING_FROM_SOME_NODES


@pytest.mark.parametrize(
    ("nodes", "broken", "verdict", "words"),
    [
        (10, set(), HEALTHY_CLUSTER, "all 10 nodes healthy"),
        (10, {3}, DEGRADED_CLUSTER, "1 of 10 nodes have a problem; n3: pod network down"),
        (
            10,
            set(range(6)),
            "pod_network_down",
            "6 of 10 nodes pod network down while the host network works",
        ),
        (2, {0, 1}, DEGRADED_CLUSTER, "2 of 2 nodes"),  # too few nodes for a cluster-wide pattern
        (0, set(), UNKNOWN_CLUSTER, "no node to judge yet"),
    ],
)
def test_most_nodes_sharing_a_verdict_is_a_cluster_wide_pattern(
    nodes: int, broken: set[int], verdict: str, words: str
) -> None:
    cluster = diagnose(verdicts(_fleet(nodes, broken, age=95)), NOW, SETTINGS).cluster
    assert cluster.verdict == verdict
    assert words in cluster.reason
    assert cluster.nodes_judged == nodes
    assert cluster.counts[V.POD_NETWORK_DOWN] == len(broken)


def test_most_clocks_off_the_same_way_points_at_the_servers_clock() -> None:
    cluster = diagnose(verdicts(_fleet(4, {0, 1, 2, 3}, skew=-120.0)), NOW, SETTINGS).cluster
    assert cluster.verdict == "clock_skew"
    assert "the server's own clock is probably off" in cluster.reason


def test_starting_nodes_are_not_judged_nor_counted() -> None:
    agents = _fleet(3, set()) + node_agents(
        "new", {"age": None, "starting": True}, {"age": None, "starting": True}
    )
    cluster = diagnose(verdicts(agents), NOW, SETTINGS).cluster
    assert (cluster.verdict, cluster.nodes_judged, cluster.counts[V.STARTING]) == (HEALTHY_CLUSTER, 3, 1)


def test_thresholds_come_from_the_settings() -> None:
    agents = node_agents("n1", {"skew": 10.0, "reboots": 1, "boot": NOW - 2000})
    strict = dataclasses.replace(SETTINGS, clock_skew_threshold_seconds=5.0, reboot_window_seconds=3600.0)
    (node,) = diagnose(verdicts(agents), NOW, strict).nodes
    assert [f.verdict for f in node.findings] == [V.CLOCK_SKEW, V.REBOOTED]
    (relaxed,) = diagnose(verdicts(agents), NOW, SETTINGS).nodes
    assert relaxed.verdict is V.HEALTHY


def test_an_outdated_pod_replaced_by_a_fresh_one_on_the_same_network_is_a_rollout_not_a_fault() -> None:
    leftover = Agent("n1", age=200, name="netchecker-agent-old")  # the record outlives its pod (no pod list)
    (node,) = diagnose(verdicts([*node_agents("n1"), leftover]), NOW, SETTINGS).nodes
    assert (node.verdict, node.findings) == (V.HEALTHY, ())
    (alone,) = diagnose(verdicts([node_agents("n1")[1], leftover]), NOW, SETTINGS).nodes
    assert alone.verdict is V.POD_NETWORK_DOWN


def test_the_cluster_is_unknown_until_a_node_is_judged() -> None:
    starting = node_agents("new", {"age": None, "starting": True}, {"age": None, "starting": True})
    cluster = diagnose(verdicts(starting), NOW, SETTINGS).cluster
    assert (cluster.verdict, cluster.reason) == (UNKNOWN_CLUSTER, "no node to judge yet")
