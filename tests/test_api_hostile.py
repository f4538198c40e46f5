"""Hostile input through the real WSGI app in-process: limits answer 4xx naming the limit, change
nothing, are counted; malformed paths are 400; a record that cannot render leaves the others."""

from __future__ import annotations

from typing import Any

import pytest

from netchecker_exporter.check import ExpectedPod
from netchecker_exporter.pods.static import StaticPodSource
from netchecker_exporter.report import parse_report
from netchecker_exporter.store.capacity import AgentCapacity
from tests.support.api_server import JSON, Server
from tests.support.clock import FakeClock
from tests.support.wsgi import call_wsgi


def with_request_uri(app: Any, uri: str) -> Any:
    """The app behind a server that sets REQUEST_URI (the path as sent), as waitress does."""
    return lambda environ, start_response: app({**environ, "REQUEST_URI": uri}, start_response)


@pytest.fixture
def capped(clock: FakeClock) -> Server:
    return Server(clock, AgentCapacity(max_agents=3))


def test_a_new_agent_beyond_max_agents_is_429_naming_the_limit_and_known_agents_keep_reporting(
    capped: Server, hostnet_report: dict[str, Any]
) -> None:
    for i in range(3):
        assert capped.post(hostnet_report, f"agent-{i}").status == 200
    refused = capped.post(hostnet_report, "agent-new")
    assert refused.status == 429
    assert refused.headers["Content-Type"] == JSON
    assert "-max-agents" in refused.json()["error"]
    assert capped.post(hostnet_report, "agent-1").status == 200
    assert sorted(capped.get("/api/v1/agents/").json()) == ["agent-0", "agent-1", "agent-2"]
    assert capped.value("netchecker_reports_received_total", result="rejected") == 1
    assert capped.value("netchecker_reports_refused_total", reason="agent_limit") == 1


def test_an_expired_agent_frees_its_slot(
    capped: Server, clock: FakeClock, hostnet_report: dict[str, Any]
) -> None:
    for i in range(3):
        capped.post(hostnet_report, f"agent-{i}")
    clock.advance(301)
    assert capped.post(hostnet_report, "agent-new").status == 200
    assert list(capped.get("/api/v1/agents/").json()) == ["agent-new"]


def test_unlisted_pods_have_their_own_bound_and_never_crowd_out_listed_ones(
    clock: FakeClock, hostnet_report: dict[str, Any]
) -> None:
    listed = [ExpectedPod(f"listed-{i}") for i in range(2)]
    pods = StaticPodSource(tuple(listed))
    capacity = AgentCapacity(
        max_agents=2, max_unlisted=2, listed=lambda: [p.name for p in pods.expected_pods({})]
    )
    server = Server(clock, capacity, pods)
    assert [server.post(hostnet_report, f"stranger-{i}").status for i in range(4)] == [200, 200, 429, 429]
    assert "-max-unlisted-agents" in server.post(hostnet_report, "stranger-9").json()["error"]
    assert [server.post(hostnet_report, p.name).status for p in listed] == [200, 200]
    assert server.value("netchecker_reports_refused_total", reason="unlisted_limit") == 3


def test_too_many_probes_are_400_and_change_nothing(capped: Server, hostnet_report: dict[str, Any]) -> None:
    probe = hostnet_report["network_probes"][0]
    hostnet_report["network_probes"] = [{**probe, "URL": f"http://h/{i}"} for i in range(5)]
    response = capped.post(hostnet_report, "agent-0")
    assert response.status == 400
    assert response.json() == {"error": "field 'network_probes' lists more than 4 probes"}
    assert capped.get("/api/v1/agents/").json() == {}
    assert capped.value("netchecker_reports_refused_total", reason="invalid") == 1


@pytest.mark.parametrize(
    ("raw", "uri"),
    [
        ("/api/v1/agents/\xff", "/api/v1/agents/%ff"),
        ("/api/v1/agents/\xc3", "/api/v1/agents/%c3"),
        ("/api/v1/agents/%zz", "/api/v1/agents/%zz"),
        ("/api/v1/agents/a%", "/api/v1/agents/a%"),
        ("/metrics\xff", "/metrics%FF"),
    ],
)
def test_a_malformed_percent_escape_is_400_never_another_route(capped: Server, raw: str, uri: str) -> None:
    for method in ("GET", "POST"):
        response = call_wsgi(with_request_uri(capped.app, uri), method, raw)
        assert (response.status, response.headers["Content-Type"]) == (400, JSON), response.body
        assert "path" in response.json()["error"]


def test_a_well_formed_escape_still_routes(capped: Server, hostnet_report: dict[str, Any]) -> None:
    capped.post(hostnet_report, "agent-0")
    app = with_request_uri(capped.app, "/api/v1/agents/agent%2D0")
    assert call_wsgi(app, "GET", "/api/v1/agents/agent-0").status == 200


def test_a_record_that_cannot_render_is_left_out_of_the_list_logged_and_counted_once(
    capped: Server, hostnet_report: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    capped.post(hostnet_report, "agent-0")
    poison = parse_report({**hostnet_report, "podname": "agent-1"}, "agent-1")
    capped.store.put_report(poison, received_at=1e20)  # no datetime can show it
    for _ in range(2):
        listing = capped.get("/api/v1/agents/")
        assert listing.status == 200
        assert list(listing.json()) == ["agent-0"]
    assert capped.value("netchecker_api_records_skipped_total") == 1  # the listing is rendered once
    assert sum("leaving out record 'agent-1'" in r.getMessage() for r in caplog.records) == 1
