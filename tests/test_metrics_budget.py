"""-max-metrics-bytes: the estimate of an agent's /metrics bytes against what it renders to, the
ledger's accounting, and the budget holding through the real app while a known agent reports."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.check import judge_agent, judge_agents, pods_from_records
from netchecker_exporter.diagnosis.nodes import EMPTY_DIAGNOSIS, diagnose
from netchecker_exporter.errors import AgentLimitError, MetricsBudgetError
from netchecker_exporter.metrics.agent_lines import render_agent
from netchecker_exporter.metrics.diagnosis_metrics import diagnosis_families
from netchecker_exporter.metrics.export_estimate import ExportEstimate, label_bytes
from netchecker_exporter.metrics.exposition import MetricsExposition, encode
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.report import AgentRecord, AgentReport, next_record, parse_report
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.memory import MemoryStore
from netchecker_exporter.store.metrics_budget import FRESH_SECONDS, RECOUNT_SECONDS, MetricsBudget
from tests.support.api_server import Server
from tests.support.clock import FakeClock
from tests.support.paths import FIXTURES, load_fixture
from tests.support.reports import flood_report

ESTIMATE_FACTOR = 1.8
"""The estimate is at least what an agent renders to and at most this much more (README)."""


def rendered_bytes(report: AgentReport, *, legacy_metrics: bool, count: int = 1) -> int:
    """What the agent adds to /metrics, judged as the reconcile pass judges it: its own lines and
    the diagnosis lines of its node and URLs."""
    record = AgentRecord(report, 1_764_590_000.25, report_count=count, missed_keepalives=count)
    (pod,) = pods_from_records({report.podname: record})
    verdict = judge_agent(pod, record, 1_764_590_003.0)
    lines = render_agent(verdict, legacy_metrics=legacy_metrics)
    diagnosis = diagnose([verdict], 1_764_590_003.0, DiagnosisSettings())
    added = len(encode(diagnosis_families(diagnosis), open_metrics=False)) - len(
        encode(diagnosis_families(EMPTY_DIAGNOSIS), open_metrics=False)
    )
    return sum(map(len, lines.agent)) + sum(map(len, lines.legacy)) + added


def fixture_report(name: str, **changes: Any) -> AgentReport:
    payload = {**load_fixture(name), **changes}
    return parse_report(payload, payload["podname"], max_probes=32)


FIXTURE_NAMES = sorted(path.name for path in FIXTURES.glob("agent-report-*.json"))


@pytest.mark.parametrize("legacy_metrics", [True, False])
@pytest.mark.parametrize("fixture", FIXTURE_NAMES)
def test_the_estimate_bounds_what_a_real_agent_renders_to_within_the_stated_factor(
    fixture: str, *, legacy_metrics: bool
) -> None:
    estimate = ExportEstimate.calibrate(legacy_metrics=legacy_metrics)
    report = fixture_report(fixture)
    rendered = rendered_bytes(report, legacy_metrics=legacy_metrics)
    assert rendered <= estimate(report) <= ESTIMATE_FACTOR * rendered


def hostile_report(probes: int) -> AgentReport:
    """Every label as long as ingest allows, full of characters the text format escapes."""
    probe = load_fixture("agent-report-hostnet.json")["network_probes"][0]
    url = ('"\\ü' * 700).encode()[:2046].decode("utf-8", "ignore")
    network = [{**probe, "URL": f"{i:02}{url}", "Total": 1, "DNSLookup": 86_400_000} for i in range(probes)]
    name = "netchecker-agent-hostnet-" + "x" * 200
    return fixture_report(
        "agent-report-hostnet.json", podname=name, nodename='"' * 253, network_probes=network
    )


@pytest.mark.parametrize("legacy_metrics", [True, False])
def test_the_estimate_is_an_upper_bound_for_the_largest_report_ingest_accepts(
    *, legacy_metrics: bool
) -> None:
    estimate = ExportEstimate.calibrate(legacy_metrics=legacy_metrics)
    report = hostile_report(32)
    rendered = rendered_bytes(report, legacy_metrics=legacy_metrics, count=2**53 - 1)
    assert rendered > 250_000  # escaping doubles most of each URL
    assert rendered <= estimate(report) <= 1.1 * rendered


def widest_fleet(agents: int) -> list[AgentReport]:
    """The widest agents ingest accepts, each on a node and with URLs of its own, every probe failing
    (so every node and URL has diagnosis lines at their widest)."""
    fleet = []
    for index in range(agents):
        report = hostile_report(32)
        probes = tuple(
            dataclasses.replace(probe, url=f"{index:03}{probe.url[3:]}", connection_result=0, http_code=0)
            for probe in report.network_probes
        )
        node = f"{index:03}" + report.nodename[3:]
        fleet.append(
            dataclasses.replace(
                report, podname=f"{report.podname}-{index}", nodename=node, network_probes=probes
            )
        )
    return fleet


def whole_metrics_bytes(reports: list[AgentReport], *, legacy_metrics: bool) -> int:
    """/metrics as a scrape sees it, diagnosis families included, after a full pass over `reports`."""
    now = 1_764_590_003.0
    records = {
        r.podname: AgentRecord(r, now - 1, report_count=2**53 - 1, missed_keepalives=2**53 - 1)
        for r in reports
    }
    verdicts = judge_agents(pods_from_records(records), records, now)
    snapshot = Snapshot(
        verdicts, StoreHealth(up=True), "none", PodSourceHealth(up=True, last_sync_timestamp=now),
        now, 0.1, 0, diagnose(verdicts, now, DiagnosisSettings()),
    )  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    exposition = MetricsExposition(lambda: snapshot, registry, version="1.2.3", legacy_metrics=legacy_metrics)
    return max(
        len(exposition.render(accept, "")[0].read()) for accept in ("", "application/openmetrics-text")
    )


@pytest.mark.parametrize("legacy_metrics", [True, False])
def test_the_estimate_covers_everything_the_widest_agents_add_to_metrics_diagnosis_included(
    *, legacy_metrics: bool
) -> None:
    """Issue 23: 228 of these were admitted under 256 MiB and /metrics reached 325 MiB, because the
    per-URL and per-node diagnosis families were not counted."""
    estimate = ExportEstimate.calibrate(legacy_metrics=legacy_metrics)
    fleet = widest_fleet(6)
    added = whole_metrics_bytes(fleet, legacy_metrics=legacy_metrics) - whole_metrics_bytes(
        [], legacy_metrics=legacy_metrics
    )
    assert added > 6 * 400_000
    assert added <= sum(map(estimate, fleet)) <= ESTIMATE_FACTOR * added


def test_label_bytes_are_utf8_with_quotes_and_backslashes_escaped() -> None:
    assert [label_bytes(text) for text in ("node-1", "ü", 'a"b', "a\\b", "")] == [6, 2, 4, 4, 0]


def report_with(name: str, probes: int = 1) -> AgentReport:
    probe = load_fixture("agent-report-hostnet.json")["network_probes"][0]
    network = [{**probe, "URL": f"http://h/{i}"} for i in range(probes)]
    return fixture_report("agent-report-hostnet.json", podname=name, network_probes=network)


def probes_cost(report: AgentReport) -> int:
    """A fake estimate: 10 bytes per probe, so the arithmetic below is readable."""
    return 10 * len(report.network_probes)


def test_a_report_over_the_budget_is_refused_and_changes_nothing() -> None:
    budget = MetricsBudget(max_bytes=50, estimate=probes_cost)
    budget.admit(report_with("a", probes=3))
    with pytest.raises(MetricsBudgetError, match="-max-metrics-bytes") as error:
        budget.admit(report_with("b", probes=3))
    assert error.value.reason == "metrics_budget"
    assert isinstance(error.value, AgentLimitError)  # the same 429 as the agent bounds
    assert budget.total == 30
    budget.admit(report_with("b", probes=2))
    assert budget.total == 50


def test_an_agents_new_report_replaces_its_share_and_one_that_does_not_grow_is_never_refused() -> None:
    budget = MetricsBudget(max_bytes=50, estimate=probes_cost)
    budget.admit(report_with("a", probes=3))
    budget.admit(report_with("b", probes=2))
    for probes in (3, 2, 2):  # the budget is full (or nearly), yet the known agent keeps reporting
        budget.admit(report_with("a", probes=probes))
    assert budget.total == 40
    with pytest.raises(MetricsBudgetError):
        budget.admit(report_with("a", probes=4))  # growing past the budget is refused...
    budget.admit(report_with("a", probes=3))  # ...growing within it is not
    assert budget.total == 50


def test_released_shares_are_free_again() -> None:
    budget = MetricsBudget(max_bytes=30, estimate=probes_cost)
    budget.admit(report_with("a", probes=3))
    budget.release(["a", "never-stored"])
    assert budget.total == 0
    budget.admit(report_with("b", probes=3))


def test_a_refusal_of_the_agent_bounds_charges_nothing() -> None:
    budget = MetricsBudget(max_bytes=100, estimate=probes_cost)
    capacity = AgentCapacity(max_agents=1, budget=budget)
    capacity.admit_report(report_with("a"), known=False, count=0, names=list)
    with pytest.raises(AgentLimitError, match="-max-agents"):
        capacity.admit_report(report_with("b"), known=False, count=1, names=list)
    assert budget.total == 10


def test_a_recount_follows_records_that_changed_behind_the_ledgers_back() -> None:
    """etcd: another replica's agents arrive through the watch, leases expire records; the ledger
    is rebuilt from the mirror at most once a second, keeping charges whose write is on its way."""
    now = [100.0]
    budget = MetricsBudget(max_bytes=1000, estimate=probes_cost, monotonic=lambda: now[0])
    records: dict[str, AgentRecord] = {}
    mine = report_with("mine", probes=2)
    budget.admit(mine, recount=lambda: records)  # committed, not yet in the mirror
    records["other"] = next_record(None, report_with("other", probes=5), 0.0)  # another replica's
    now[0] += RECOUNT_SECONDS
    budget.admit(report_with("new", probes=1), recount=lambda: records)
    assert budget.total == 20 + 50 + 10
    records.clear()  # their leases expired; "new" and "mine" never reached the mirror (failed writes)
    now[0] += FRESH_SECONDS
    budget.admit(report_with("last", probes=1), recount=lambda: records)
    assert budget.total == 10


def test_the_memory_store_releases_expired_records_before_refusing(clock: FakeClock) -> None:
    budget = MetricsBudget(max_bytes=30, estimate=probes_cost)
    store = MemoryStore(
        report_ttl_seconds=300, clock=clock, capacity=AgentCapacity(max_agents=10, budget=budget)
    )
    store.put_report(report_with("a", probes=3), clock())
    with pytest.raises(MetricsBudgetError):
        store.put_report(report_with("b", probes=1), clock())
    clock.advance(301)
    store.put_report(report_with("b", probes=1), clock())  # a's record expired: its share is free
    assert budget.total == 10
    assert list(store.list_records()) == ["b"]


def budgeted_server(clock: FakeClock, max_bytes: int) -> Server:
    budget = MetricsBudget(max_bytes=max_bytes, estimate=ExportEstimate.calibrate(legacy_metrics=True))
    server = Server(clock, AgentCapacity(max_agents=12_000, budget=budget), max_probes_per_report=32)
    return server


def agents_bytes(server: Server, empty: int) -> int:
    server.reconciler.reconcile_once()
    response = server.get("/metrics")
    assert response.status == 200
    return len(response.body) - empty


def test_a_flood_of_maximal_reports_stays_within_the_budget_while_a_known_agent_keeps_reporting(
    clock: FakeClock, hostnet_report: dict[str, Any]
) -> None:
    max_bytes = 8 * 1024 * 1024
    server = budgeted_server(clock, max_bytes)
    empty = agents_bytes(server, 0)
    assert server.post(hostnet_report, "netchecker-agent-known").status == 200
    statuses: list[int] = []
    for index in range(40):
        statuses.append(server.post(flood_report(index), f"netchecker-agent-flood-{index}").status)
        clock.advance(0.1)
        assert server.post(hostnet_report, "netchecker-agent-known").status == 200
    assert 200 in statuses and 429 in statuses
    assert statuses == sorted(statuses)  # once full, every new maximal agent is refused
    refused = server.post(flood_report(99), "netchecker-agent-flood-99")
    assert "-max-metrics-bytes" in refused.json()["error"]
    assert (
        server.value("netchecker_reports_refused_total", reason="metrics_budget") == statuses.count(429) + 1
    )
    listed = server.get("/api/v1/agents/").json()
    assert len(listed) == statuses.count(200) + 1
    assert max_bytes / 2 < agents_bytes(server, empty) <= max_bytes
    clock.advance(301)  # the flood expires, and with it its shares
    assert server.post(flood_report(100), "netchecker-agent-flood-100").status == 200
    assert list(server.get("/api/v1/agents/").json()) == ["netchecker-agent-flood-100"]
