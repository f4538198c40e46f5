"""Ingest never depends on the pod source (issue 22): with the API unreachable since start-up,
reports are stored and connectivity_check answers the original's 500; the unlisted-agents bound
starts once a list has loaded. In-process, through the app and the capacity cli.run builds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from netchecker_exporter.cli import build_capacity, read_text
from netchecker_exporter.settings import load_settings
from netchecker_exporter.store.capacity import REFRESH_SECONDS
from tests.support.api_server import Server
from tests.support.clock import FakeClock
from tests.support.kube_access import SourceFactory
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.polling import wait_until

NOT_LISTED = (
    "Error occurred while checking the agents. Details: Kubernetes agent pods not listed yet: list pods:"
)


def test_reports_are_stored_before_the_first_list_and_bounded_once_it_loads(
    cluster: FakeCluster,
    apiserver: FakeKubeApiServer,
    make_source: SourceFactory,
    kubeconfig: Path,
    clock: FakeClock,
    hostnet_report: dict[str, Any],
) -> None:
    apiserver.set_unreachable(unreachable=True)
    cluster.create_pod("netchecker-agent-listed")
    source = make_source()
    settings = load_settings([f"-kubeconfig={kubeconfig}", "-max-unlisted-agents=1"], {}, read_text)
    server = Server(clock, build_capacity(settings, source), source)
    wait_until(lambda: len(apiserver.requests) >= 2, what="lists failing")
    statuses = []
    for i in range(3):  # more than -max-unlisted-agents, each past the capacity's refresh
        statuses.append(server.post(hostnet_report, f"agent-{i}").status)
        time.sleep(REFRESH_SECONDS / 2)
    assert statuses == [200, 200, 200]
    assert sorted(server.get("/api/v1/agents/").json()) == ["agent-0", "agent-1", "agent-2"]
    check = server.get("/api/v1/connectivity_check")
    assert check.status == 500
    assert check.json()["Message"].startswith(NOT_LISTED)
    server.reconciler.reconcile_once()  # fails: no pod list
    assert server.get("/readyz").status == 200  # not taken out of the Service: reports keep coming
    apiserver.set_unreachable(unreachable=False)
    assert source.wait_until_synced(10)
    time.sleep(REFRESH_SECONDS)  # the capacity asks the pod source again at most once a second
    refused = server.post(hostnet_report, "agent-new")
    assert refused.status == 429
    assert "-max-unlisted-agents" in refused.json()["error"]
    assert server.post(hostnet_report, "agent-1").status == 200  # known agents always report
    assert server.post(hostnet_report, "netchecker-agent-listed").status == 200
    check = server.get("/api/v1/connectivity_check")
    assert (check.status, check.json()["Absent"], check.json()["Outdated"]) == (200, None, None)
