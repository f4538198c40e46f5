"""Generated hostile reports against the in-process WSGI app: each one is refused with 4xx and
changes nothing, or accepted and /metrics still parses (text and OpenMetrics) with no duplicate
series; promtool accepts what the worst accepted values render to."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from netchecker_exporter.metrics.export_estimate import ExportEstimate
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.metrics_budget import MetricsBudget
from tests.support.api_server import Server
from tests.support.clock import FakeClock
from tests.support.exporter import LEGACY_MS_LINT
from tests.support.paths import load_fixture

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
HOSTILE_STRINGS = ["\ud800", "a\udfffb", "\x00", "line\nbreak", 'q"uo\\te', "ü" * 200, "x" * 3000, ""]
HOSTILE_NUMBERS: list[Any] = [
    float("nan"), float("inf"), -float("inf"), 1.5, True, None, "200", 10**309, -(10**309),
    9223372036854, 2**63, -1, 0, 1, 999, 1000, 86_400_000, 86_400_001,
]  # fmt: skip
PROBE_KEYS = ("URL", "ConnectionResult", "HTTPCode", "Total", "ContentTransfer", "TCPConnection",
              "DNSLookup", "Connect", "ServerProcessing")  # fmt: skip

texts = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40))
numbers = st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.integers())
urls = st.one_of(st.sampled_from(["http://a/", "http://b/ping", 'http://c/?q="1"']), texts)
probes = st.fixed_dictionaries(
    {"URL": urls},
    optional={key: st.one_of(numbers, texts) for key in PROBE_KEYS[1:]},
)
changes = st.fixed_dictionaries(
    {},
    optional={
        "nodename": st.one_of(texts, numbers),
        "hostdate": st.one_of(texts, st.just("2026-11-25T06:00:31.5+01:00")),
        "uptime": numbers,
        "report_interval": numbers,
        "nslookup": st.dictionaries(texts, st.lists(texts, max_size=3), max_size=3),
        "ips": st.one_of(st.dictionaries(texts, st.lists(texts, max_size=3), max_size=3), numbers),
        "network_probes": st.lists(probes, max_size=7),
    },
)


def small_budget() -> MetricsBudget:
    """-max-metrics-bytes that two agents with a few long URLs fill: 429 is among the outcomes."""
    return MetricsBudget(max_bytes=60_000, estimate=ExportEstimate.calibrate(legacy_metrics=True))


def served_metrics(server: Server, accept: str) -> str:
    response = server.get("/metrics", Accept=accept)
    assert response.status == 200, response.body[:500]
    return response.body.decode("utf-8")


def assert_parses_without_duplicates(text: str, parse: Any) -> None:
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for family in parse(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in seen, f"duplicate series {key}"
            seen.add(key)


def listing(server: Server) -> Any:
    return server.get("/api/v1/agents/").json()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(changes, min_size=1, max_size=3))
def test_every_hostile_report_is_refused_unchanged_or_rendered(batch: list[dict[str, Any]]) -> None:
    server = Server(FakeClock(), AgentCapacity(max_agents=100, budget=small_budget()))
    template = load_fixture("agent-report-hostnet.json")
    for index, change in enumerate(batch):
        before = listing(server)
        response = server.post({**template, **change}, f"netchecker-agent-{index % 2}")
        assert response.status in {200, 400, 429}, response.body
        if response.status in {400, 429}:
            assert "error" in response.json()
            assert listing(server) == before
            continue
        server.reconciler.reconcile_once()
        assert_parses_without_duplicates(served_metrics(server, ""), parse_text)
        assert_parses_without_duplicates(served_metrics(server, OPENMETRICS), parse_openmetrics)


def worst_accepted_report(index: int) -> dict[str, Any]:
    """Every value at the edge of what is accepted, in one report."""
    report = load_fixture("agent-report-hostnet.json")
    probe = report["network_probes"][0]
    url = ('http://h/?q="x"\\y ü' + "z" * 2048).encode()[:2048].decode("utf-8", "ignore")
    report["nodename"] = "ñ" * 126
    report["network_probes"] = [
        {**probe, "URL": url, "HTTPCode": 999, "Total": 9223372036854, "DNSLookup": 86_400_000},
        {**probe, "URL": url, "HTTPCode": 0},  # the same URL again: merged
        {**probe, "URL": f"http://other/{index}", "ConnectionResult": 0, "HTTPCode": 0},
    ]
    return report


def test_promtool_accepts_the_worst_accepted_values(clock: FakeClock) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: `make test` installs Debian's prometheus package")
    server = Server(clock, AgentCapacity(max_agents=100))
    for index in range(3):
        assert server.post(worst_accepted_report(index), f"netchecker-agent-{index}").status == 200
    server.reconciler.reconcile_once()
    text = served_metrics(server, "")
    durations = [
        sample.value
        for family in parse_text(text)
        if family.name in {"ncagent_http_probe_total_time_ms", "netchecker_agent_probe_duration_seconds"}
        for sample in family.samples
    ]
    assert durations and max(durations) <= 86_400_000  # Go's "not timed" is no sample, not 292 years
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    findings = (result.stdout + result.stderr).splitlines()
    assert result.returncode in {0, 3}, findings
    assert [f for f in findings if not LEGACY_MS_LINT.fullmatch(f)] == []
