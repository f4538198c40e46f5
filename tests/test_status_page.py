"""The status page as a pure function of the Snapshot: escaped, self-contained, usable at 5,000 nodes."""

from __future__ import annotations

import re
import time

from netchecker_exporter.diagnosis.nodes import NodeVerdict, diagnose
from netchecker_exporter.diagnosis.verdicts import ALERTS
from netchecker_exporter.http.status_page import (
    DEFAULT_LINKS,
    ROWS_SHOWN,
    TARGET_DOWN_ALERT,
    PageLinks,
    render_status_page,
)
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from tests.support.diagnosis import NOW, PING, SETTINGS, Agent, node_agents, probe, verdicts
from tests.support.paths import RULES_FILE
from tests.support.yaml_text import load_yaml

HOSTILE = '"><script>alert(1)</script>'


def snapshot_of(agents: list[Agent]) -> Snapshot:
    judged = tuple(verdicts(agents))
    return Snapshot(judged, StoreHealth(up=True), "static", PodSourceHealth(up=True, last_sync_timestamp=NOW),
                    last_success_timestamp=NOW, diagnosis=diagnose(judged, NOW, SETTINGS))  # fmt: skip


def page(agents: list[Agent], links: PageLinks = DEFAULT_LINKS) -> str:
    return render_status_page(snapshot_of(agents), now=NOW + 3, links=links)


def test_client_chosen_names_and_urls_are_escaped() -> None:
    agents = node_agents(f"node{HOSTILE}", {"probes": (probe(PING), probe(f"http://x/{HOSTILE}", ok=False))})
    text = page(agents, PageLinks(runbook_url=f"https://wiki/{HOSTILE}"))
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'data-node="node&quot;&gt;&lt;script&gt;' in text


def test_the_page_is_self_contained_refreshes_and_fits_a_phone() -> None:
    text = page(node_agents("n1"))
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=|url\(|@import", text)
    links = re.findall(r'href="([^"]*)"', text)
    assert set(links) == {
        "metrics",
        "api/v1/diagnosis",
        "api/v1/connectivity_check",
        "api/v1/agents/",
        "runbook",
    }
    assert '<meta http-equiv="refresh" content="10">' in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "@media (max-width:760px)" in text


def test_broken_nodes_come_first_and_healthy_ones_are_folded_away() -> None:
    agents = [*node_agents("a-fine"), *node_agents("b-broken", {"age": 300}, {"age": 300})]
    text = page(agents)
    assert (
        text.index('data-node="b-broken"')
        < text.index('<details id="healthy">')
        < text.index('data-node="a-fine"')
    )
    assert "1 healthy nodes (show)" in text
    assert "✖ node unreachable" in text  # a symbol and words, not colour alone


def test_every_verdict_links_to_an_alert_and_a_runbook_section_that_exist() -> None:
    rules = {r["alert"] for g in load_yaml(RULES_FILE.read_text())["groups"] for r in g["rules"]}
    judged = set(NodeVerdict) - {NodeVerdict.STARTING, NodeVerdict.HEALTHY}
    assert set(ALERTS) == judged
    assert {*ALERTS.values(), TARGET_DOWN_ALERT} <= rules
    text = page(node_agents("n1", {"age": 95}))
    assert '<a href="runbook#netcheckerpodnetworkdownonnode">runbook</a>' in text


def test_five_thousand_nodes_render_quickly_and_stay_readable() -> None:
    agents = [
        a for i in range(5000) for a in node_agents(f"node-{i:04d}", {"age": 95} if i % 50 == 0 else {})
    ]
    snapshot = snapshot_of(agents)
    started = time.perf_counter()
    text = render_status_page(snapshot, now=NOW, links=PageLinks())
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"{elapsed:.2f} s (bench/status_page.py measures it strictly: under 1 s)"
    assert "Nodes with a problem (100)" in text
    assert "4900 healthy nodes (show)" in text
    assert f"{4900 - ROWS_SHOWN} more not shown" in text
    assert len(text) < 5_000_000


def test_a_stale_diagnosis_and_an_unknown_cluster_say_so() -> None:
    snapshot = snapshot_of(node_agents("n1"))
    fresh = render_status_page(snapshot, now=NOW + 5, links=DEFAULT_LINKS)
    stale = render_status_page(snapshot, now=NOW + 600, links=DEFAULT_LINKS)
    assert 'id="stale"' not in fresh and "(5 s ago)" in fresh
    assert '<div id="stale" class="s-bad">✖ stale: as of' in stale
    empty = render_status_page(snapshot_of([]), now=NOW, links=DEFAULT_LINKS)
    assert "? Cluster: unknown" in empty and 'data-verdict="unknown"' in empty
