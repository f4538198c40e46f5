"""The status page in a real browser: a real server process fed by the demo fleet, one fault per node.

Headless Chromium (Debian's) reads the page as an operator would: every verdict's row with its
reason, the cluster line, the target down; healthy nodes folded away; no sideways scrolling on a
phone. Screenshots go to the test's tmp dir and, under CI or $NETCHECKER_ARTIFACTS_DIR, there too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.demo_faults import DEMO_FAULTS, DOWN_URL
from bench.demo_fleet import DemoFleet, pods_file_text, run_demo_fleet
from tests.browser import chromium, keep_screenshot
from tests.polling import wait_until
from tests.test_server_process import ExporterProcess

NODES = 10
EXPECTED = {f"node-n{index:05d}": fault.value for index, fault in DEMO_FAULTS.items()}
WORDS = {
    "agent_missing": "is expected but has never reported",
    "host_network_down": "has been silent for",
    "pod_network_down": "look at the CNI on this node",
    "dns_failing": "returned no address on the pod network",
    "probe_failing": "a network problem between them and the target",
    "clock_skew": "90 s ahead of the server's",
    "node_unreachable": "no agent has reported for",
    "rebooted": "the node rebooted",
}


class FleetThread:
    """The demo fleet's agents on an event loop of their own, until stop()."""

    def __init__(self, fleet: DemoFleet) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, args=(fleet,), daemon=True)
        self._thread.start()

    def _run(self, fleet: DemoFleet) -> None:
        self._loop.run_until_complete(run_demo_fleet(fleet, self._stop))

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExporterProcess]:
    fleet = DemoFleet(port=0, nodes=NODES, report_interval_seconds=1, silent_node=7, silent_after_seconds=3,
                      failing_nodes=frozenset({3}), faults=DEMO_FAULTS, target_down=True,
                      duration_seconds=60)  # fmt: skip
    pods = tmp_path_factory.mktemp("fleet") / "pods.yml"
    pods.write_text(pods_file_text(fleet))
    server = ExporterProcess(f"-pods-file={pods}", "-check-interval=0.5")
    agents = FleetThread(dataclasses.replace(fleet, port=server.port))
    try:
        wait_until(lambda: _all_verdicts_shown(server), 30, "every fault's verdict in /api/v1/diagnosis")
        yield server
    finally:
        agents.stop()
        server.stop()


def _all_verdicts_shown(server: ExporterProcess) -> bool:
    nodes = {n["node"]: n["verdict"] for n in server.get("/api/v1/diagnosis").json()["nodes"]}
    return all(nodes.get(node) == verdict for node, verdict in EXPECTED.items())


def _rows(driver: Any) -> dict[str, tuple[str, str]]:
    from selenium.webdriver.common.by import By

    return {
        row.get_attribute("data-node"): (row.get_attribute("data-verdict"), row.text)
        for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-node]")
    }


def test_every_verdict_reads_on_the_page_in_a_real_browser(
    demo_server: ExporterProcess, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "profile", 1280, 1400) as driver:
        driver.get(demo_server.url + "/")
        assert driver.title == "netchecker status"
        rows = _rows(driver)
        for node, verdict in EXPECTED.items():
            shown_verdict, text = rows[node]
            assert shown_verdict == verdict
            assert verdict.replace("_", " ") in text and WORDS[verdict] in text, text
        cluster = driver.find_element(By.ID, "cluster")
        assert cluster.get_attribute("data-verdict") == "degraded"
        assert "Cluster: degraded" in cluster.text and "nodes have a problem" in cluster.text
        (target,) = driver.find_elements(By.CSS_SELECTOR, f'tr[data-url="{DOWN_URL}"]')
        assert "the target is down" in target.text
        screenshot = tmp_path / "status-page.png"
        assert driver.save_screenshot(str(screenshot))
        healthy = driver.find_element(By.CSS_SELECTOR, 'tr[data-node="node-n00000"]')
        assert not healthy.is_displayed()
        driver.find_element(By.CSS_SELECTOR, "#healthy summary").click()
        assert healthy.is_displayed() and "✔ healthy" in healthy.text
    keep_screenshot(screenshot)


def test_on_a_phone_the_page_does_not_scroll_sideways(demo_server: ExporterProcess, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile", 390, 1600) as driver:
        driver.get(demo_server.url + "/")
        width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        assert "✖ node unreachable" in _rows(driver)["node-n00007"][1]
        screenshot = tmp_path / "status-page-phone.png"
        assert driver.save_screenshot(str(screenshot))
    keep_screenshot(screenshot)
