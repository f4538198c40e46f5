"""Scenario 4: 5,000 labelled agent pods behind the wire-level fake kube-apiserver (tests/kube).

Measures how long the exporter takes from its first API request to a reconcile pass that expects
all 5,000 pods, how many requests that took (list pages, watch), and requests per minute when the
cluster is quiet (the watch stays open; nothing should poll).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.processes import Child, http_get, start_exporter
from bench.stats import sample_value
from tests.support.kube_access import TOKEN, write_kubeconfig
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.paths import REPO

PODS = 5_000


def fill_cluster(cluster: FakeCluster, pods: int) -> None:
    """Two agents per node, labelled as the two DaemonSets label them, plus unlabelled noise."""
    for index in range(pods):
        node = f"node-n{index // 2:05d}"
        hostnet = index % 2 == 1
        app = "netchecker-agent-hostnet" if hostnet else "netchecker-agent"
        name = f"{app}-n{index // 2:05d}"
        cluster.create_pod(
            name, labels={"app": app}, node=node, host_network=hostnet, created=time.time() - 3600
        )
    for index in range(pods // 10):  # pods the selector must leave out
        cluster.create_pod(f"web-{index}", namespace="default", labels={"app": "web"})


def _expected(child: Child) -> float | None:
    try:
        text = http_get(child.port, "/metrics", timeout=10)[1].decode()
    except OSError:
        return None
    return sample_value(text, "netchecker_agents_expected")


def wait_for_requests(fake: FakeKubeApiServer, seconds: float) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if fake.requests:
            return time.monotonic()
        time.sleep(0.01)
    raise RuntimeError("the exporter made no API request")


def kube_scenario(
    cpu: int | None, log_dir: Path, *, quiet_seconds: float, pods: int = PODS
) -> dict[str, Any]:
    log_dir.mkdir(parents=True, exist_ok=True)
    cluster = FakeCluster()
    fill_cluster(cluster, pods)
    fake = FakeKubeApiServer(cluster, token=TOKEN).start()
    kubeconfig = write_kubeconfig(log_dir / "kubeconfig", fake.url, TOKEN)
    started = time.monotonic()
    child = start_exporter(
        cpu, log_dir, f"-kubeconfig={kubeconfig}", "-check-interval=1", name="exporter-kube", wait=False
    )
    try:
        first_request = wait_for_requests(fake, 60)
        deadline = time.monotonic() + 120
        while _expected(child) != pods:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no pass with {pods} expected pods within 120 s; see {child.log_path}")
            time.sleep(0.05)
        synced = time.monotonic()
        sync_requests = len(fake.requests)
        time.sleep(quiet_seconds)
        quiet_requests = len(fake.requests) - sync_requests
        text = http_get(child.port, "/metrics", timeout=10)[1].decode()
        return {
            "pods": pods,
            "seconds_from_start": synced - started,
            "seconds_from_first_request": synced - first_request,
            "requests_to_sync": sync_requests,
            "list_requests_to_sync": len(fake.list_requests()),
            "quiet_seconds": quiet_seconds,
            "quiet_requests": quiet_requests,
            "quiet_requests_per_minute": quiet_requests * 60 / quiet_seconds,
            "reconcile_seconds": sample_value(text, "netchecker_reconcile_duration_seconds"),
            "server_rss_bytes": child.rss_bytes(),
        }
    finally:
        child.stop()
        fake.stop()


def main(argv: list[str]) -> int:
    """`python -m bench.kube_sync [QUIET_SECONDS]`: this scenario alone, unpinned."""
    quiet = float(argv[0]) if argv else 10.0
    print(json.dumps(kube_scenario(None, REPO / "bench" / "results" / "kube", quiet_seconds=quiet)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
