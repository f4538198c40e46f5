"""The original's trailing-slash redirects (httprouter's RedirectTrailingSlash), through the real app."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.support.clock import FakeClock
from tests.support.exporter import ExporterProcess
from tests.support.paths import fixture_paths
from tests.support.wsgi import call_wsgi
from tests.test_api import Server


@pytest.mark.parametrize(
    ("method", "path", "status", "location"),
    [
        ("GET", "/api/v1/ping/", 301, "/api/v1/ping"),
        ("GET", "/metrics/", 301, "/metrics"),
        ("GET", "/api/v1/connectivity_check/", 301, "/api/v1/connectivity_check"),
        ("GET", "/api/v1/agents/netchecker-agent-7fq2m/", 301, "/api/v1/agents/netchecker-agent-7fq2m"),
        ("HEAD", "/metrics/", 301, "/metrics"),
        ("POST", "/api/v1/agents/netchecker-agent-7fq2m/", 307, "/api/v1/agents/netchecker-agent-7fq2m"),
    ],
)
def test_a_trailing_slash_redirects_to_the_path_without_it_like_the_original(
    clock: FakeClock, method: str, path: str, status: int, location: str
) -> None:
    response = Server(clock).request(method, path)
    assert (response.status, response.headers.get("Location")) == (status, location)


def test_a_redirected_post_stores_nothing_and_counts_no_report(
    clock: FakeClock, podnet_report: dict[str, Any]
) -> None:
    server = Server(clock)
    name = podnet_report["podname"]
    response = server.request("POST", f"/api/v1/agents/{name}/", json.dumps(podnet_report).encode())
    assert response.status == 307
    assert server.request("GET", "/api/v1/agents/").json() == {}
    assert server.counted("accepted") is None


def test_the_redirect_keeps_the_query_and_never_puts_a_newline_in_a_header(clock: FakeClock) -> None:
    server = Server(clock)
    kept = call_wsgi(server.app, "GET", "/metrics/", query="name[]=up&x=%41")
    assert kept.headers["Location"] == "/metrics?name[]=up&x=%41"
    hostile = server.request("GET", "/api/v1/agents/a\r\nSet-Cookie: x=1/")
    assert hostile.status == 301
    assert hostile.headers["Location"] == "/api/v1/agents/a%0D%0ASet-Cookie:%20x=1"


@pytest.mark.parametrize("path", ["/healthz/", "/api/v1/diagnosis/", "/api/v1/ping//", "/nothing/"])
def test_paths_the_original_never_served_stay_404(clock: FakeClock, path: str) -> None:
    assert Server(clock).request("GET", path).status == 404


@pytest.mark.process
def test_a_real_server_redirects_and_a_client_that_follows_the_307_gets_its_report_stored() -> None:
    exporter = ExporterProcess()
    try:
        moved = requests.get(exporter.url + "/metrics/", allow_redirects=False, timeout=5)
        assert (moved.status_code, moved.headers["Location"]) == (301, "/metrics")
        body = fixture_paths()[0].read_bytes()
        name = json.loads(body)["podname"]
        posted = requests.post(f"{exporter.url}/api/v1/agents/{name}/", data=body, timeout=5)
        assert [r.status_code for r in posted.history] == [307]
        assert posted.status_code == 200
        assert exporter.get(f"/api/v1/agents/{name}").json()["podname"] == name
    finally:
        assert exporter.stop()[0] == 0
