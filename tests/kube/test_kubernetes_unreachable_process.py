"""The real `python exporter.py` with its kubeconfig pointing at a closed loopback port (issue 22):
valid reports get 200, connectivity_check answers the original's 500 until a list loads,
/healthz stays fast; then the API server comes up on that port and the pod list takes over."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.exporter import ExporterProcess
from tests.support.kube_access import TOKEN, write_kubeconfig
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.paths import load_fixture
from tests.support.polling import wait_until
from tests.support.ports import free_port

pytestmark = [pytest.mark.process]

NOT_LISTED = "Error occurred while checking the agents. Details: Kubernetes agent pods not listed yet: "
HEALTHZ_BOUND_SECONDS = 2.0
"""Far above what /healthz takes (milliseconds); far below a Kubernetes call's 10 s connect timeout."""


@pytest.fixture
def api_port() -> int:
    return free_port()


@pytest.fixture
def exporter_url(tmp_path: Path, api_port: int) -> Iterator[str]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{api_port}", TOKEN)
    exporter = ExporterProcess(
        f"-kubeconfig={kubeconfig}",
        "-check-interval=1",
        "-startup-grace=0",
        "-max-unlisted-agents=2",
        log_path=tmp_path / "exporter.log",
    )
    try:
        yield exporter.url
    finally:
        exporter.stop()


def post(url: str, name: str) -> int:
    # An interval longer than the test: the first report stays fresh until the list loads.
    report = {**load_fixture("agent-report-hostnet.json"), "podname": name, "report_interval": 120}
    return requests.post(f"{url}/api/v1/agents/{name}", json=report, timeout=10).status_code


def connectivity(url: str) -> tuple[int, dict[str, object]]:
    reply = requests.get(url + "/api/v1/connectivity_check", timeout=10)
    return reply.status_code, reply.json()


def healthz_seconds(url: str) -> float:
    started = time.monotonic()
    assert requests.get(url + "/healthz", timeout=10).ok
    return time.monotonic() - started


def test_with_the_api_unreachable_from_start_reports_are_stored_until_a_list_loads(
    exporter_url: str, api_port: int
) -> None:
    names = [f"netchecker-agent-hostnet-{i}" for i in range(4)]  # more than -max-unlisted-agents
    statuses = []
    for name in names:
        statuses.append(post(exporter_url, name))
        time.sleep(0.6)  # past the capacity's once-a-second look at the pod list
    assert statuses == [200] * 4
    assert sorted(requests.get(exporter_url + "/api/v1/agents/", timeout=10).json()) == names
    status, body = connectivity(exporter_url)
    assert status == 500
    assert str(body["Message"]).startswith(NOT_LISTED + "list pods: ")
    assert max(healthz_seconds(exporter_url) for _ in range(5)) < HEALTHZ_BOUND_SECONDS
    assert requests.get(exporter_url + "/readyz", timeout=10).status_code == 200  # reports keep coming
    metrics = requests.get(exporter_url + "/metrics", timeout=10).text
    assert 'netchecker_pod_source_up{source="kubernetes"} 0.0' in metrics
    assert 'netchecker_reports_received_total{result="accepted"} 4.0' in metrics

    cluster = FakeCluster()
    cluster.create_pod(names[0], node="node-1", host_network=True)
    apiserver = FakeKubeApiServer(cluster, token=TOKEN, bind_port=api_port).start()
    try:  # the exporter's retry backoff reaches 4-8 s by now: a generous bound
        wait_until(lambda: connectivity(exporter_url)[0] != 500, 60, "a list to load", interval_seconds=0.5)
        all_fine = {"Message": "All 1 pods successfully reported back to the server", "Absent": None,
                    "Outdated": None}  # fmt: skip
        assert connectivity(exporter_url) == (200, all_fine)
        time.sleep(1.2)  # the capacity's next look at the pod list
        assert post(exporter_url, "made-up-name") == 429  # 3 unlisted stored, -max-unlisted-agents=2
        assert post(exporter_url, names[1]) == 200  # stored before the list: known, never refused
    finally:
        apiserver.stop()
