"""The HTTP API through the real WSGI app in-process: COMPAT.md's contract and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netchecker_exporter.check import ExpectedPod
from netchecker_exporter.errors import PodSourceUnavailableError, StoreUnavailableError
from netchecker_exporter.pods.base import PodSource
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.pods.static import StaticPodSource
from netchecker_exporter.report import AgentRecord, AgentReport
from netchecker_exporter.store.base import StoreHealth
from netchecker_exporter.store.memory import MemoryStore
from tests.support.api_server import Server as ApiServer
from tests.support.clock import FakeClock
from tests.support.wsgi import WsgiResponse, call_wsgi

MAX_BYTES = 8192


class Server(ApiServer):
    """The house from assemble() with this module's body bound, posting each report as it is."""

    def __init__(self, clock: FakeClock, pods: PodSource | None = None, store: Any = None) -> None:
        super().__init__(clock, pods=pods, store=store, max_report_bytes=MAX_BYTES, max_probes_per_report=32)

    def post(self, report: dict[str, Any], name: str | None = None) -> WsgiResponse:
        path = f"/api/v1/agents/{name or report['podname']}"
        return self.request("POST", path, json.dumps(report).encode(), Content_Type="application/json")


@pytest.fixture
def server(clock: FakeClock) -> Server:
    return Server(clock)


def test_a_posted_report_is_stored_and_read_back(server: Server, hostnet_report: dict[str, Any]) -> None:
    name = hostnet_report["podname"]
    assert server.post(hostnet_report).status == 200
    response = server.request("GET", f"/api/v1/agents/{name}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    record = response.json()
    assert record["podname"] == name
    assert record["last_updated"] == "2027-01-15T08:00:00.000000Z"
    assert "zero_extender" not in record
    assert server.counted("accepted") == 1


def test_an_accepted_report_is_answered_200_with_an_empty_text_body(
    server: Server, hostnet_report: dict[str, Any]
) -> None:
    response = server.post(hostnet_report)
    assert (response.status, response.body) == (200, b"")
    assert response.headers == {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "0"}
    refused = server.post({**hostnet_report, "report_interval": "x"})  # then a refusal, on the same thread
    assert (refused.status, refused.headers["Content-Type"]) == (400, "application/json")


def test_the_agent_list_is_an_object_keyed_by_pod(
    server: Server, hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    assert server.request("GET", "/api/v1/agents/").json() == {}
    server.post(hostnet_report)
    server.post(podnet_report)
    for path in ("/api/v1/agents/", "/api/v1/agents"):
        listing = server.request("GET", path).json()
        assert sorted(listing) == sorted([hostnet_report["podname"], podnet_report["podname"]])


def test_an_unknown_agent_is_404_with_a_json_error(server: Server) -> None:
    response = server.request("GET", "/api/v1/agents/nobody")
    assert response.status == 404
    assert response.json() == {"error": "no report stored for agent 'nobody'"}


def test_connectivity_check_is_200_when_everyone_reported(
    server: Server, hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    server.post(hostnet_report)
    server.post(podnet_report)
    response = server.request("GET", "/api/v1/connectivity_check")
    assert response.status == 200
    assert response.json() == {
        "Message": "All 2 pods successfully reported back to the server",
        "Absent": None,
        "Outdated": None,
    }


def test_connectivity_check_is_400_listing_absent_and_outdated_pods(
    clock: FakeClock, hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    pods = (
        ExpectedPod(hostnet_report["podname"]),
        ExpectedPod(podnet_report["podname"]),
        ExpectedPod("silent"),
    )
    server = Server(clock, pods=StaticPodSource(pods))
    server.post(hostnet_report)
    clock.advance(4.5)  # interval 2 s: older than 2 x interval
    server.post(podnet_report)
    response = server.request("GET", "/api/v1/connectivity_check")
    assert response.status == 400
    assert response.json() == {
        "Message": "Connectivity check fails. Reason: there are absent or outdated pods; look up the payload",
        "Absent": ["silent"],
        "Outdated": [hostnet_report["podname"]],
    }


class BrokenPods(ReportedPodSource):
    def expected_pods(self, records: Any) -> tuple[ExpectedPod, ...]:
        raise PodSourceUnavailableError("pods cannot be listed: connection refused")


def test_connectivity_check_is_500_when_the_pods_cannot_be_read(clock: FakeClock) -> None:
    response = Server(clock, pods=BrokenPods()).request("GET", "/api/v1/connectivity_check")
    assert response.status == 500
    assert response.json() == {
        "Message": "Error occurred while checking the agents. "
        "Details: pods cannot be listed: connection refused",
        "Absent": None,
        "Outdated": None,
    }


def test_ping_answers_200_with_an_empty_body(server: Server) -> None:
    response = server.request("GET", "/api/v1/ping")
    assert (response.status, response.body) == (200, b"")


def _bad(report: dict[str, Any], **change: Any) -> bytes:
    return json.dumps({**report, **change}).encode()


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/v1/agents/netchecker-agent-hostnet-x7k2p", b"{not json", 400, "body is not valid JSON"),
        ("/api/v1/agents/netchecker-agent-hostnet-x7k2p", b"[1, 2]", 400, "report must be a JSON object"),
        ("/api/v1/agents/netchecker-agent-hostnet-x7k2p", b"\xff\xfe", 400, "body is not valid JSON"),
        ("/api/v1/agents/netchecker-agent-hostnet-x7k2p", b"[" * 100_000, 413, "exceeds the limit"),
        ("/api/v1/agents/netchecker-agent-hostnet-x7k2p", b"[" * 5000, 400, "body is not valid JSON"),
        ("/api/v1/agents/Not_A_Pod", None, 400, "is not a DNS-1123 subdomain"),
        ("/api/v1/agents/someone-else", None, 400, "differs from the pod name in the URL"),
    ],
)
def test_bad_input_is_rejected_counted_and_changes_nothing(
    server: Server, hostnet_report: dict[str, Any], path: str, body: bytes | None, status: int, error: str
) -> None:
    payload = json.dumps(hostnet_report).encode() if body is None else body
    response = server.request("POST", path, payload)
    assert response.status == status
    assert error in response.json()["error"]
    assert server.store.list_records() == {}
    assert server.counted("rejected") == 1
    assert server.counted("accepted") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"report_interval": 0}, "report_interval"),
        ({"report_interval": "10"}, "report_interval"),
        ({"network_probes": [{"HTTPCode": "x"}]}, "network_probes[0].HTTPCode"),
    ],
)
def test_a_wrong_type_names_the_field(
    server: Server, hostnet_report: dict[str, Any], change: Any, field: str
) -> None:
    response = server.request(
        "POST", f"/api/v1/agents/{hostnet_report['podname']}", _bad(hostnet_report, **change)
    )
    assert response.status == 400
    assert f"'{field}'" in response.json()["error"]


def test_a_declared_oversized_body_is_refused_before_it_is_read(server: Server) -> None:
    response = call_wsgi(server.app, "POST", "/api/v1/agents/a", b"{}", {"Content-Length": "999999"})
    assert response.status == 413
    assert response.json() == {"error": "report body of 999999 bytes exceeds the limit of 8192 bytes"}


class DownStore(MemoryStore):
    def put_report(self, report: AgentReport, received_at: float) -> AgentRecord:
        raise StoreUnavailableError("etcd: deadline exceeded")

    def health(self) -> StoreHealth:
        return StoreHealth(up=False, detail="deadline exceeded")


def test_a_store_outage_is_503_and_readyz_says_why(clock: FakeClock, hostnet_report: dict[str, Any]) -> None:
    server = Server(clock, store=DownStore(report_ttl_seconds=300, clock=clock))
    server.reconciler.reconcile_once()
    response = server.post(hostnet_report)
    assert (response.status, response.json()) == (503, {"error": "etcd: deadline exceeded"})
    assert server.counted("failed") == 1
    ready = server.request("GET", "/readyz")
    assert (ready.status, ready.json()) == (
        503,
        {"status": "not ready", "reasons": ["store unavailable: deadline exceeded"]},
    )


def test_readyz_waits_for_the_first_reconcile_pass(server: Server) -> None:
    assert server.request("GET", "/healthz").json() == {"status": "ok"}
    not_ready = server.request("GET", "/readyz")
    assert (not_ready.status, not_ready.json()["reasons"]) == (503, ["no reconcile pass has succeeded yet"])
    server.reconciler.reconcile_once()
    assert server.request("GET", "/readyz").status == 200


def test_unknown_routes_and_methods_answer_json(server: Server) -> None:
    missing = server.request("GET", "/nope")
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert "404" in missing.json()["error"]
    assert server.request("DELETE", "/api/v1/agents/a").status == 405


def test_metrics_speak_text_and_openmetrics(server: Server, hostnet_report: dict[str, Any]) -> None:
    server.post(hostnet_report)
    server.reconciler.reconcile_once()
    text = server.request("GET", "/metrics")
    assert text.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b'netchecker_reports_received_total{result="accepted"} 1.0' in text.body
    assert b"\nnetchecker_agents_expected 1.0\n" in text.body  # the snapshot, as production serves it
    assert b'ncagent_report_count_total{agent="node-1-host_network"} 1.0' in text.body
    open_metrics = server.request("GET", "/metrics", Accept="application/openmetrics-text; version=1.0.0")
    assert open_metrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert open_metrics.body.endswith(b"# EOF\n")


class ExplodingStore(MemoryStore):
    def get_record(self, podname: str) -> AgentRecord | None:
        raise RuntimeError("a bug")


def test_a_bug_is_a_json_500_not_a_crash(clock: FakeClock) -> None:
    server = Server(clock, store=ExplodingStore(report_ttl_seconds=1, clock=clock))
    response = server.request("GET", "/api/v1/agents/a")
    assert (response.status, response.json()) == (500, {"error": "internal server error"})
