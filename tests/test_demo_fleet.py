"""A bounded smoke test of `make demo`'s fleet against a real server: the silent node turns the check 400."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
import requests

from bench.demo_fleet import UNREACHABLE_URL, DemoFleet, pods_file_text, run_demo_fleet
from tests.support.exporter import ExporterProcess, metric_value

pytestmark = [pytest.mark.process]

BOUND_SECONDS = 30.0


def test_the_demo_fleet_makes_its_silent_node_outdated_and_shows_failing_probes(tmp_path: Path) -> None:
    fleet = DemoFleet(port=0, nodes=3, report_interval_seconds=1, silent_node=1, silent_after_seconds=2.0,
                      failing_nodes=frozenset({0}), duration_seconds=BOUND_SECONDS)  # fmt: skip
    pods = tmp_path / "pods.yml"
    pods.write_text(pods_file_text(fleet))
    server = ExporterProcess(f"-pods-file={pods}", "-check-interval=0.2", "-startup-grace=60")
    try:
        fleet = dataclasses.replace(fleet, port=server.port)
        check = asyncio.run(_run_until_check_fails(fleet, server))
        metrics = server.get("/metrics").text
    finally:
        server.stop()
    assert check == {
        "Message": "Connectivity check fails. Reason: there are absent or outdated pods; look up the payload",
        "Absent": None,
        "Outdated": sorted(fleet.silent_pods()),
    }
    failing = (
        'netchecker_agent_probe_success{namespace="netchecker",network="pod",node="node-n00000",'
        f'pod="netchecker-agent-n00000",url="{UNREACHABLE_URL}"}}'
    )
    assert metric_value(metrics, failing) == 0
    assert metric_value(metrics, "netchecker_agents_expected") == 6


async def _run_until_check_fails(fleet: DemoFleet, server: ExporterProcess) -> object:
    """Run the fleet and poll connectivity_check until the silent node's agents are outdated.

    Before every agent has reported once, the check answers 400 for absent ones: not what we wait for.
    """
    stop = asyncio.Event()
    simulation = asyncio.create_task(run_demo_fleet(fleet, stop))
    answer: object = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND_SECONDS
    while loop.time() < deadline:
        response = await asyncio.to_thread(requests.get, f"{server.url}/api/v1/connectivity_check", timeout=5)
        outdated = response.json()["Outdated"] if response.status_code == 400 else None
        if outdated and set(fleet.silent_pods()) <= set(outdated):
            answer = response.json()
            break
        await asyncio.sleep(0.2)
    stop.set()
    counts = await simulation
    assert counts.outcomes and set(counts.outcomes) == {"200"}
    assert sorted(counts.silenced) == sorted(fleet.silent_pods())
    return answer
