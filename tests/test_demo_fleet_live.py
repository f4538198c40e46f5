"""A real server process fed by the demo fleet, one fault per node, read by a browser and by Prometheus.

Headless Chromium (Debian's) reads the status page as an operator would: every verdict's row with
its reason, the cluster line, the target down; healthy nodes folded away; no sideways scrolling on
a phone. Screenshots go to the test's tmp dir and, under CI or $NETCHECKER_ARTIFACTS_DIR, there too.
A real Prometheus with the rules scrapes the same server: each verdict's alert is pending.

In `make e2e` (marked `e2e`): its cost is Chromium and the fleet's 25 s of faults unfolding; the same
verdicts on the page, in the diagnosis and on /metrics are held in-process by test_diagnosis_views.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.demo_faults import DEMO_FAULTS, DOWN_URL
from bench.demo_fleet import DemoFleet, pods_file_text, run_demo_fleet
from netchecker_exporter.diagnosis.nodes import NodeVerdict
from netchecker_exporter.diagnosis.verdicts import ALERTS
from netchecker_exporter.http.status_page import TARGET_DOWN_ALERT
from tests.browser import chromium, keep_screenshot
from tests.support.exporter import ExporterProcess
from tests.support.polling import wait_until
from tests.support.ports import free_port
from tests.support.processes import start_logged as start
from tests.support.processes import stop_process
from tests.support.prometheus import (
    LiveStack,
    all_rules_evaluated,
    http_status,
    prom_query,
    write_prometheus_config,
)

pytestmark = [pytest.mark.process, pytest.mark.e2e, pytest.mark.xdist_group("demo_fleet_live")]

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
    "flapping": "the problem comes and goes",
}
FLAPPING_NODE = next(node for node, verdict in EXPECTED.items() if verdict == "flapping")


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


@dataclasses.dataclass(frozen=True)
class DemoStack:
    """The server fed by the fleet, and a Prometheus scraping it, both started but not yet settled."""

    server: ExporterProcess
    prometheus: LiveStack


# module: the group is one xdist unit, so its tests run back to back on one worker, which tears this
# down after the last of them (session scope kept it running, and scraped, until the worker's end).
@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """Started first, so the fleet's faults unfold while Chromium and Prometheus start up."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: run scripts/ensure-debian-packages (Debian package 'prometheus')")
    fleet = DemoFleet(port=0, nodes=NODES, report_interval_seconds=2, silent_node=7, silent_after_seconds=3,
                      failing_nodes=frozenset({3}), faults=DEMO_FAULTS, target_down=True,
                      duration_seconds=180)  # fmt: skip
    workdir = tmp_path_factory.mktemp("fleet")
    pods = workdir / "pods.yml"
    pods.write_text(pods_file_text(fleet))
    server = ExporterProcess(f"-pods-file={pods}", "-check-interval=0.5")
    agents = FleetThread(dataclasses.replace(fleet, port=server.port))
    port = free_port()
    config, data = workdir / "prometheus.yml", workdir / "data"
    write_prometheus_config(config, server.port)
    command = [binary, f"--config.file={config}", f"--storage.tsdb.path={data}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    prometheus = start(command, workdir / "prometheus.log")
    try:
        yield DemoStack(server, LiveStack(f"http://127.0.0.1:{port}", server.url, ()))
    finally:
        stop_process(prometheus)
        agents.stop()
        server.stop()


@pytest.fixture(scope="module")
def demo_server(demo_stack: DemoStack) -> ExporterProcess:
    """The server once every fault shows its verdict."""
    server = demo_stack.server
    # the flapping node's two outages take about 20 s (demo_faults.FLAP_*), then it flaps for 15 min
    wait_until(lambda: _all_verdicts_shown(server), 60, "every fault's verdict in /api/v1/diagnosis")
    return server


@pytest.fixture(scope="module")  # as demo_stack
def browser(demo_stack: DemoStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium for the page's tests (its start is most of their CPU); each test sets its window
    size and loads the page afresh, so neither sees the other's state. It starts while the fleet's
    faults unfold (tests take it before demo_server)."""
    with chromium(tmp_path_factory.mktemp("chromium") / "profile", 1280, 1400) as driver:
        yield driver


def between_refreshes(read: Callable[[], None], attempts: int = 3) -> None:
    """`read` the page again from a fresh load if the page's own meta refresh replaced it midway
    (every 5 s at -check-interval=0.5; a loaded machine can take longer than that to read it):
    each read still makes every assertion on one load. An element replaced that way is stale, or,
    for an element's screenshot, a node that "does not belong to the document" any more."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    for attempt in range(attempts):
        try:
            return read()
        except StaleElementReferenceException:
            if attempt == attempts - 1:
                raise
        except WebDriverException as error:
            if attempt == attempts - 1 or "does not belong to the document" not in str(error.msg):
                raise


def sized(driver: Any, width: int, height: int) -> Any:
    driver.set_window_size(width, height)
    return driver


def _all_verdicts_shown(server: ExporterProcess) -> bool:
    nodes = {n["node"]: n["verdict"] for n in server.get("/api/v1/diagnosis").json()["nodes"]}
    return all(nodes.get(node) == verdict for node, verdict in EXPECTED.items())


def _rows(driver: Any) -> dict[str, tuple[str, str]]:
    from selenium.webdriver.common.by import By

    return {
        row.get_attribute("data-node"): (row.get_attribute("data-verdict"), row.text)
        for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-node]")
    }


def _read_the_page(driver: Any, url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
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
    _check_the_flapping_nodes_timeline(driver, tmp_path / "timeline.png")
    healthy = driver.find_element(By.CSS_SELECTOR, 'tr[data-node="node-n00000"]')
    assert not healthy.is_displayed()
    driver.find_element(By.CSS_SELECTOR, "#healthy summary").click()
    assert healthy.is_displayed() and "✔ healthy" in healthy.text
    keep_screenshot(screenshot)
    keep_screenshot(tmp_path / "timeline.png")


def _check_the_flapping_nodes_timeline(driver: Any, screenshot: Path) -> dict[str, Any]:
    """The flapping section names the node; its row's strip has bad and ok stretches, each with a
    title, its size on screen, and the changes in words beside it. Returns the strip's size."""
    from selenium.webdriver.common.by import By

    (listed,) = driver.find_elements(By.CSS_SELECTOR, f'#flapping li[data-flapping-node="{FLAPPING_NODE}"]')
    assert "the problem comes and goes" in listed.text and "history" in listed.text
    history = driver.find_element(By.CSS_SELECTOR, f'tr[data-node="{FLAPPING_NODE}"] .history')
    strip = history.find_element(By.CSS_SELECTOR, "svg.timeline")
    assert strip.get_attribute("role") == "img"
    # both outages, and what the node showed while its two agents went and came back one by one
    label = strip.get_attribute("aria-label")
    changes_shown = re.match(rf"{FLAPPING_NODE}: (\d+) verdict changes in the last 60 min, ", label)
    assert changes_shown is not None and int(changes_shown[1]) >= 4, label
    kinds = [rect.get_attribute("class") for rect in strip.find_elements(By.TAG_NAME, "rect")]
    runs = [kind for index, kind in enumerate(kinds) if index == 0 or kinds[index - 1] != kind]
    assert runs[-4:] == ["t-bad", "t-ok", "t-bad", "t-ok"], kinds  # two outages, healthy since
    titles = [t.get_attribute("textContent") for t in strip.find_elements(By.TAG_NAME, "title")]
    assert len(titles) == len(kinds) and all(" from " in t and t.endswith(" UTC") for t in titles)
    changes = history.find_element(By.CSS_SELECTOR, "ul.changes").text
    assert "→ healthy" in changes and "healthy →" in changes, changes
    size = strip.size
    assert size["width"] >= 100 and size["height"] == 20, size
    assert history.screenshot(str(screenshot))
    return dict(size)


def _read_the_page_on_a_phone(driver: Any, url: str, tmp_path: Path) -> None:
    driver.get(url + "/")
    width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[1] == 390, width  # the phone's viewport, not the window of the test before
    assert width[0] <= width[1], width
    assert "✖ node unreachable" in _rows(driver)["node-n00007"][1]
    strip = _check_the_flapping_nodes_timeline(driver, tmp_path / "timeline-phone.png")
    assert strip["width"] <= width[1], strip
    screenshot = tmp_path / "status-page-phone.png"
    assert driver.save_screenshot(str(screenshot))
    keep_screenshot(screenshot)
    keep_screenshot(tmp_path / "timeline-phone.png")


@pytest.mark.parametrize(
    ("width", "height", "read"),
    [
        pytest.param(1280, 1400, _read_the_page, id="every_verdict_reads_on_a_desktop"),
        pytest.param(390, 1600, _read_the_page_on_a_phone, id="on_a_phone_it_does_not_scroll_sideways"),
    ],
)
def test_the_status_page_reads_in_a_real_browser(
    browser: Any,
    demo_server: ExporterProcess,
    tmp_path: Path,
    width: int,
    height: int,
    read: Callable[[Any, str, Path], None],
) -> None:
    between_refreshes(lambda: read(sized(browser, width, height), demo_server.url, tmp_path))


def _pending_alerts(stack: LiveStack) -> set[tuple[str, str]]:
    alerts = prom_query(stack, 'ALERTS{alertstate=~"pending|firing"}')
    return {(a["metric"]["alertname"], a["metric"].get("node") or a["metric"].get("url", "")) for a in alerts}


def test_every_verdict_raises_its_alert_in_a_real_prometheus(
    demo_stack: DemoStack, demo_server: ExporterProcess
) -> None:
    stack = demo_stack.prometheus
    wanted = {(ALERTS[NodeVerdict(verdict)], node) for node, verdict in EXPECTED.items()}
    wanted.add((TARGET_DOWN_ALERT, DOWN_URL))
    wait_until(
        lambda: http_status(f"{stack.prometheus_url}/-/ready") == 200, 30, "prometheus", ignoring=(OSError,)
    )
    wait_until(lambda: all_rules_evaluated(stack), 30, "every rule evaluated", ignoring=(OSError,))
    wait_until(
        lambda: wanted <= _pending_alerts(stack), 30, f"the alerts {sorted(wanted)}", ignoring=(OSError,)
    )
    healthy = {node for alert, node in _pending_alerts(stack) if alert in set(ALERTS.values())} - set(
        EXPECTED
    )
    assert not healthy, f"node alerts on healthy nodes: {healthy}"
