"""Each verdict, injected by the demo fleet's faults into real reports, shows on /, in /api/v1/diagnosis
and on /metrics, with its evidence, and goes away with the fault (the WSGI app in-process, fake clock)."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from bench.demo_faults import DOWN_URL, INJECTED_FAULTS, PATH_URL, Fault, faulty_report
from bench.demo_fleet import DemoFleet, demo_probes, pods_file_text
from bench.payload import load_fixtures, render_report
from netchecker_exporter.pods.static import StaticPodSource, parse_pods_file
from netchecker_exporter.report import DEFAULT_MAX_PROBES
from netchecker_exporter.store.memory import MemoryStore
from tests.support.api_server import Server
from tests.support.clock import FakeClock
from tests.support.wsgi import call_wsgi
from tests.support.yaml_text import load_yaml

NODE = "node-n00001"
WORDS = {
    Fault.NODE_UNREACHABLE: "no agent has reported for",
    Fault.AGENT_MISSING: "the pod-network agent netchecker-agent-n00001 is expected but has never reported",
    Fault.POD_NETWORK_DOWN: "the pod-network agent netchecker-agent-n00001 cannot reach",
    Fault.HOST_NETWORK_DOWN: "the host-network agent netchecker-agent-hostnet-n00001 has been silent for",
    Fault.DNS_FAILING: "returned no address on the pod network",
    Fault.PROBE_FAILING: f"{PATH_URL} fails from the host and pod network (no connection); it fails from 1",
    Fault.CLOCK_SKEW: "the node's clock is 90 s ahead of the server's",
    Fault.REBOOTED: "the node rebooted",
    Fault.FLAPPING: "it went between healthy and a problem 4 times in the last 15 min (healthy, node",
}
RUNS = {Fault.FLAPPING: (1,) * 30}
"""Seconds of fleet between passes; a flapping node's outages are seen with a pass every second."""


class Rows(HTMLParser):
    """The page's table rows: their data-* attributes and their text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[dict[str, str], str]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"tr", "section"} and any(k.startswith("data-") for k, _ in attrs):
            self.rows.append(({k: v or "" for k, v in attrs}, ""))

    def handle_data(self, data: str) -> None:
        if self.rows:
            attrs, text = self.rows[-1]
            self.rows[-1] = (attrs, text + data)


class Cluster:
    """The house from assemble(), fed by a DemoFleet's agents on a fake clock."""

    def __init__(self, clock: FakeClock, fleet: DemoFleet) -> None:
        self.clock, self.fleet, self.elapsed = clock, fleet, 0.0
        pods = parse_pods_file(load_yaml(pods_file_text(fleet)), "fleet")
        store = MemoryStore(report_ttl_seconds=3600, clock=clock)
        server = Server(
            clock, pods=StaticPodSource(pods), store=store, max_probes_per_report=DEFAULT_MAX_PROBES
        )
        self.reconciler, self.app = server.reconciler, server.app
        self.fixtures, self.rng = load_fixtures(), random.Random(1)

    def run(self, seconds: int) -> None:
        """Every agent reports once a second (unless its fault silences it); then one reconcile pass."""
        for _ in range(seconds):
            for index, agent in enumerate(self.fleet.agents()):
                moment = self.fleet.moment(index // 2, self.elapsed, hostnet=agent.hostnet)
                if moment.silent():
                    continue
                fixture = {
                    **self.fixtures[agent.hostnet],
                    "network_probes": demo_probes(self.fleet, moment, self.rng),
                }
                body = render_report(fixture, agent, now=self.clock(), report_interval=2)
                report = faulty_report(json.loads(body), moment, self.clock())
                answer = call_wsgi(
                    self.app, "POST", f"/api/v1/agents/{agent.pod}", json.dumps(report).encode()
                )
                assert answer.status == 200, answer.body
            self.clock.advance(1)
            self.elapsed += 1
        self.reconciler.reconcile_once()

    def diagnosis(self) -> dict[str, Any]:
        result: dict[str, Any] = call_wsgi(self.app, "GET", "/api/v1/diagnosis").json()
        return result

    def page_rows(self) -> list[tuple[dict[str, str], str]]:
        response = call_wsgi(self.app, "GET", "/")
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        parser = Rows()
        parser.feed(response.body.decode())
        return parser.rows

    def metrics(self) -> str:
        return call_wsgi(self.app, "GET", "/metrics").body.decode()


def fleet_with(faults: dict[int, Fault], **changes: Any) -> DemoFleet:
    return DemoFleet(port=8081, nodes=4, report_interval_seconds=2, silent_node=-1, silent_after_seconds=5,
                     failing_nodes=frozenset(), faults=faults, **changes)  # fmt: skip


def node_views(cluster: Cluster, node: str) -> tuple[dict[str, Any], str, list[str]]:
    """The node in the JSON, its row's text on the page, its verdict series on /metrics."""
    (entry,) = [n for n in cluster.diagnosis()["nodes"] if n["node"] == node]
    (row,) = [(attrs, text) for attrs, text in cluster.page_rows() if attrs.get("data-node") == node]
    assert row[0]["data-verdict"] == entry["verdict"]
    series = re.findall(
        rf'^netchecker_node_verdict{{node="{node}",verdict="(\w+)"}} 1.0$', cluster.metrics(), re.M
    )
    return entry, row[1], series


@pytest.mark.parametrize("fault", INJECTED_FAULTS)
def test_each_verdict_shows_everywhere_with_its_evidence_and_goes_with_the_fault(
    clock: FakeClock, fault: Fault
) -> None:
    cluster = Cluster(clock, fleet_with({1: fault}))
    for seconds in RUNS.get(fault, (12,)):
        cluster.run(seconds)
    entry, row_text, series = node_views(cluster, NODE)
    assert (entry["verdict"], series) == (fault.value, [fault.value])
    assert WORDS[fault] in entry["reason"]
    assert entry["evidence"][0]["verdict"] == fault.value
    assert WORDS[fault] in row_text
    others = [n["verdict"] for n in cluster.diagnosis()["nodes"] if n["node"] != NODE]
    assert others == ["healthy"] * 3
    if fault in {Fault.REBOOTED, Fault.FLAPPING}:
        clock.advance(1000)  # out of the reboot window, and of the flap window
    cluster.fleet = dataclasses.replace(cluster.fleet, faults={})
    cluster.run(3)
    entry, row_text, series = node_views(cluster, NODE)
    assert (entry["verdict"], series, entry["evidence"]) == ("healthy", [], [])
    assert WORDS[fault] not in row_text


def test_a_target_down_everywhere_shows_as_one_target_not_as_broken_nodes(clock: FakeClock) -> None:
    cluster = Cluster(clock, fleet_with({}, target_down=True))
    cluster.run(3)
    (target,) = [t for t in cluster.diagnosis()["targets"] if t["url"] == DOWN_URL]
    assert (target["verdict"], len(target["failing_nodes"])) == ("down", 4)
    rows = [text for attrs, text in cluster.page_rows() if attrs.get("data-url") == DOWN_URL]
    assert len(rows) == 1 and "the target is down" in rows[0]
    assert f'netchecker_probe_target_verdict{{url="{DOWN_URL}",verdict="down"}} 1.0' in cluster.metrics()
    assert {n["verdict"] for n in cluster.diagnosis()["nodes"]} == {"healthy"}
    cluster.fleet = dataclasses.replace(cluster.fleet, target_down=False)
    cluster.run(1)
    assert DOWN_URL not in {t["url"] for t in cluster.diagnosis()["targets"]}
    assert DOWN_URL not in cluster.metrics()


def test_most_nodes_with_one_verdict_make_it_cluster_wide_everywhere(clock: FakeClock) -> None:
    cluster = Cluster(clock, fleet_with(dict.fromkeys(range(3), Fault.POD_NETWORK_DOWN)))
    cluster.run(3)
    assert cluster.diagnosis()["cluster"]["verdict"] == "pod_network_down"
    (section,) = [(a, t) for a, t in cluster.page_rows() if a.get("id") == "cluster"]
    assert section[0]["data-verdict"] == "pod_network_down"
    assert "3 of 4 nodes pod network down while the host network works: the overlay" in section[1]
    assert 'netchecker_cluster_verdict{verdict="pod_network_down"} 1.0' in cluster.metrics()
    cluster.fleet = dataclasses.replace(cluster.fleet, faults={})
    cluster.run(1)
    assert cluster.diagnosis()["cluster"]["verdict"] == "healthy"
    assert 'netchecker_cluster_verdict{verdict="healthy"} 1.0' in cluster.metrics()


def test_the_page_forbids_scripts_and_the_json_can_leave_out_healthy_nodes(clock: FakeClock) -> None:
    cluster = Cluster(clock, fleet_with({2: Fault.DNS_FAILING}))
    cluster.run(3)
    page = call_wsgi(cluster.app, "GET", "/")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    problems = call_wsgi(cluster.app, "GET", "/api/v1/diagnosis", query="problems=1").json()
    assert [n["node"] for n in problems["nodes"]] == ["node-n00002"]
    assert all(t["verdict"] != "ok" for t in problems["targets"])
    assert len(cluster.diagnosis()["nodes"]) == 4


def flapped_cluster(clock: FakeClock) -> Cluster:
    """node-n00001 has had its two outages (4 verdict changes) and reports steadily again."""
    cluster = Cluster(clock, fleet_with({1: Fault.FLAPPING}))
    for seconds in RUNS[Fault.FLAPPING]:
        cluster.run(seconds)
    return cluster


def test_a_flapping_node_has_its_changes_in_the_history_endpoint_on_metrics_and_on_the_page(
    clock: FakeClock,
) -> None:
    cluster = flapped_cluster(clock)
    answer = call_wsgi(cluster.app, "GET", "/api/v1/diagnosis/history", query=f"node={NODE}")
    assert (answer.status, answer.headers["Content-Type"]) == (200, "application/json")
    history = answer.json()
    moves = [(t["from"], t["to"]) for t in history["transitions"]]
    assert moves == [("healthy", "node_unreachable"), ("node_unreachable", "healthy")] * 2
    assert "no agent has reported for" in history["transitions"][0]["reason"]
    assert history["flapping"] == {
        "flapping": True,
        "changes_in_window": 4,
        "threshold": 4,
        "window_seconds": 900.0,
    }
    assert (history["verdict"], history["changes_total"]) == ("flapping", 4)
    pods = {a["pod"] for a in history["agents"]}
    assert pods == {"netchecker-agent-n00001", "netchecker-agent-hostnet-n00001"}
    assert {(a["from"], a["to"]) for a in history["agents"]} == {("fresh", "outdated"), ("outdated", "fresh")}
    assert f'netchecker_node_verdict_changes_total{{node="{NODE}"}} 4.0' in cluster.metrics()
    assert 'netchecker_node_verdict_changes_total{node="node-n00000"}' not in cluster.metrics()
    page = call_wsgi(cluster.app, "GET", "/").body.decode()
    section = page[
        page.index('<section id="flapping">') : page.index("</section>", page.index('id="flapping"'))
    ]
    assert f'data-flapping-node="{NODE}"' in section and "the problem comes and goes" in section
    assert f'href="api/v1/diagnosis/history?node={NODE}"' in section
    timeline = page[page.index(f'data-history-node="{NODE}"') :]
    assert timeline.index("<svg") < timeline.index("</svg>") < timeline.index('<ul class="changes"')
    assert timeline.count("node unreachable → healthy") == 2
    label = "node-n00001: 4 verdict changes in the last 60 min, 10 s of the 29 s watched with a problem"
    assert f'aria-label="{label}"' in timeline
    quiet = call_wsgi(cluster.app, "GET", "/api/v1/diagnosis/history", query="node=node-n00002").json()
    assert (quiet["transitions"], quiet["verdict"], quiet["flapping"]["flapping"]) == ([], "healthy", False)


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("", 400, "give exactly one node: ?node=NAME"),
        ("node=a&node=b", 400, "give exactly one node"),
        ("node=", 400, "node must be 1 to 253 bytes of printable UTF-8"),
        ("node=%0a", 400, "node must be 1 to 253 bytes of printable UTF-8"),
        ("node=" + "x" * 254, 400, "node must be 1 to 253 bytes"),
        ("node=%ff", 400, "the query is not valid UTF-8 form data"),
        ("&".join(f"node={i}" for i in range(9)), 400, "at most 8 fields"),
        ("node=n&problems=1", 400, "unknown query parameter 'problems': only 'node' is accepted"),
        ("node=nobody", 404, "no history for node 'nobody': it was never judged"),
    ],
)
def test_a_bad_history_query_gets_a_json_error_and_changes_nothing(
    clock: FakeClock, query: str, status: int, words: str
) -> None:
    cluster = Cluster(clock, fleet_with({}))
    cluster.run(3)
    before = cluster.reconciler.snapshot
    answer = call_wsgi(cluster.app, "GET", "/api/v1/diagnosis/history", query=query)
    assert (answer.status, answer.headers["Content-Type"]) == (status, "application/json")
    assert words in answer.json()["error"]
    assert cluster.reconciler.snapshot is before
