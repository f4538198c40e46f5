"""End to end: `python exporter.py -kubeconfig=...` against the fake API server, judged over HTTP."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.exporter import ExporterProcess
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.paths import load_fixture
from tests.support.polling import wait_until

pytestmark = [pytest.mark.process]

CHECK_INTERVAL_SECONDS = 1.0


@contextlib.contextmanager
def running_exporter(kubeconfig: Path) -> Iterator[str]:
    """`python exporter.py -kubeconfig=...` on a free port; yields its URL, stops it with SIGTERM."""
    exporter = ExporterProcess(
        f"-kubeconfig={kubeconfig}", f"-check-interval={CHECK_INTERVAL_SECONDS}", "-startup-grace=0"
    )
    try:
        yield exporter.url
    finally:
        _, log = exporter.stop()
        assert "pod source: kubernetes via -kubeconfig" in log


@pytest.fixture
def exporter_url(kubeconfig: Path) -> Iterator[str]:
    with running_exporter(kubeconfig) as url:
        yield url


def connectivity(url: str) -> tuple[int, dict[str, object]]:
    response = requests.get(url + "/api/v1/connectivity_check", timeout=5)
    return response.status_code, response.json()


def test_a_labelled_pod_without_a_report_is_absent_until_it_is_deleted(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, exporter_url: str
) -> None:
    cluster.create_pod("netchecker-agent-silent", node="node-9")
    cluster.create_pod("web-1", labels={"app": "web"})
    wait_until(lambda: connectivity(exporter_url)[1].get("Absent"), what="an Absent list")
    status, body = connectivity(exporter_url)
    assert (status, body["Absent"], body["Outdated"]) == (400, ["netchecker-agent-silent"], None)
    cluster.delete_pod("netchecker", "netchecker-agent-silent")
    deleted = time.monotonic()
    wait_until(lambda: connectivity(exporter_url)[0] == 200, timeout_seconds=CHECK_INTERVAL_SECONDS,
               what="the deleted pod to leave the check")  # fmt: skip
    assert time.monotonic() - deleted <= CHECK_INTERVAL_SECONDS
    assert connectivity(exporter_url)[1]["Message"] == "All 0 pods successfully reported back to the server"
    up = 'netchecker_pod_source_up{source="kubernetes"} 1.0'
    wait_until(lambda: up in requests.get(exporter_url + "/metrics", timeout=5).text, what="pod source up")
    assert len(apiserver.list_requests()) == 1


def test_a_labelled_pod_that_reports_passes_the_check(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, exporter_url: str
) -> None:
    report = load_fixture("agent-report-podnet-failed-probe.json")
    cluster.create_pod(report["podname"], node=report["nodename"])
    wait_until(lambda: connectivity(exporter_url)[1].get("Absent") == [report["podname"]], what="Absent")
    posted = requests.post(f"{exporter_url}/api/v1/agents/{report['podname']}", json=report, timeout=5)
    assert posted.status_code == 200
    assert connectivity(exporter_url) == (
        200,
        {"Message": "All 1 pods successfully reported back to the server", "Absent": None, "Outdated": None},
    )


def test_before_the_first_list_the_check_answers_500_and_the_source_is_down(
    apiserver: FakeKubeApiServer, kubeconfig: Path
) -> None:
    apiserver.fail(403, on="list", times=None)
    with running_exporter(kubeconfig) as url:
        wait_until(lambda: len(apiserver.list_requests()) >= 2, what="retried lists")
        status, body = connectivity(url)
        assert status == 500
        assert str(body["Message"]).startswith(
            "Error occurred while checking the agents. Details: Kubernetes agent pods not listed yet: "
            "list pods: HTTP 403: pods is forbidden"
        )
        down = 'netchecker_pod_source_up{source="kubernetes"} 0.0'
        assert down in requests.get(url + "/metrics", timeout=5).text
