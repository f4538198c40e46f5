"""Pod sources that need no cluster: `static` from a YAML list, `none` from the stored reports."""

from __future__ import annotations

from typing import Any

import pytest

from netchecker_exporter.check import ExpectedPod, Network, pods_from_records
from netchecker_exporter.errors import ConfigError
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.pods.static import StaticPodSource, parse_pods_file
from netchecker_exporter.report import AgentRecord, parse_report
from tests.support.yaml_text import load_yaml

PODS_YAML = """
agents:
  - {pod: netchecker-agent-aaaaa, node: node-1, namespace: default}
  - {pod: netchecker-agent-hostnet-bbbbb, node: node-1, namespace: default}
  - {pod: custom-name, node: node-2, namespace: kube-system, network: host}
"""


def test_a_pods_file_lists_the_expected_agents() -> None:
    pods = parse_pods_file(load_yaml(PODS_YAML), "pods.yml")
    assert pods == (
        ExpectedPod("netchecker-agent-aaaaa", "default", "node-1", Network.POD),
        ExpectedPod("netchecker-agent-hostnet-bbbbb", "default", "node-1", Network.HOST),
        ExpectedPod("custom-name", "kube-system", "node-2", Network.HOST),
    )
    assert StaticPodSource(pods).expected_pods({}) == pods


def test_a_bare_list_is_accepted_too() -> None:
    assert len(parse_pods_file([{"pod": "a"}], "p")) == 1


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        ({"agents": "x"}, ["p: expected a list of agents (or a mapping with 'agents')"]),
        ([5], ["p: agents[0]: expected a mapping with 'pod', 'node', 'namespace'"]),
        ([{"pod": "a", "zone": "z"}], ["p: agents[0]: unknown keys zone"]),
        (
            [{"pod": "Bad_Name"}],
            [
                "p: agents[0]: pod name 'Bad_Name' is not a DNS-1123 subdomain "
                "(lowercase letters, digits, '-' and '.', at most 253 characters)"
            ],
        ),
        ([{"pod": "a", "network": "wifi"}], ["p: agents[0]: network must be 'pod' or 'host'"]),
        (
            [{"pod": "a", "node": 3}],
            ["p: agents[0]: 'pod', 'node', 'namespace' and 'network' must be strings"],
        ),
        ([{"pod": "a"}, {"pod": "a"}], ["p: pod 'a' is listed twice"]),
    ],
)
def test_a_bad_pods_file_names_every_problem(data: Any, problems: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        parse_pods_file(data, "p")
    assert error.value.problems == problems


def test_source_none_expects_every_agent_that_reported(hostnet_report: dict[str, Any]) -> None:
    report = parse_report(hostnet_report, hostnet_report["podname"])
    records = {report.podname: AgentRecord(report, 0.0, 1, 0)}
    (pod,) = ReportedPodSource().expected_pods(records)
    assert (pod.name, pod.node, pod.network) == (report.podname, "node-1", Network.HOST)


def test_source_none_keeps_its_pod_tuple_until_a_name_or_a_node_changes(
    hostnet_report: dict[str, Any],
) -> None:
    def record(name: str, node: str) -> AgentRecord:
        return AgentRecord(
            parse_report({**hostnet_report, "podname": name, "nodename": node}, name), 0.0, 1, 0
        )

    source = ReportedPodSource()
    records = {"b": record("b", "n1"), "a": record("a", "n2")}
    first = source.expected_pods(records)
    assert first == pods_from_records(records)
    assert source.expected_pods({**records, "a": record("a", "n2")}) is first  # a new report, same pod
    for changed in (
        {**records, "a": record("a", "n3")},
        {"a": records["a"]},
        {**records, "c": record("c", "n1")},
    ):
        assert source.expected_pods(changed) == pods_from_records(changed)


def test_the_shipped_example_pods_file_is_valid() -> None:
    from tests.support.paths import REPO

    path = REPO / "config" / "pods.example.yml"
    assert len(parse_pods_file(load_yaml(path.read_text()), str(path))) == 3


def test_static_and_none_sources_are_up_but_never_claim_a_sync() -> None:
    """They have no origin to sync with: a 'last sync' of now would be invented data."""
    for source in (StaticPodSource((ExpectedPod("netchecker-agent-a"),)), ReportedPodSource()):
        health = source.health()
        assert (health.up, health.last_sync_timestamp) == (True, None)
