"""The fast /metrics renderer writes exactly what prometheus_client writes for SnapshotCollector."""

from __future__ import annotations

import dataclasses
import gzip
import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics import exposition as openmetrics

from netchecker_exporter import exposition
from netchecker_exporter.api import ApiDependencies, make_app
from netchecker_exporter.check import ExpectedPod, Network, judge_agents
from netchecker_exporter.collector import SnapshotCollector
from netchecker_exporter.exposition import MetricsExposition, render_snapshot
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.report import AgentRecord, parse_report
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from netchecker_exporter.store.memory import MemoryStore
from tests.conftest import call_wsgi
from tests.test_collector import make_snapshot

NOW = 1_800_000_000.0


def reference(snapshot: Snapshot, *, open_metrics: bool) -> bytes:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version="1.2.3"))
    if open_metrics:
        data: bytes = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
        return data.removesuffix(b"# EOF\n")
    return generate_latest(registry)


def varied_snapshot(hostnet: dict[str, Any], podnet: dict[str, Any]) -> Snapshot:
    """Fresh, outdated, absent and starting agents; awkward label values; big and fractional numbers."""
    records: dict[str, AgentRecord] = {}
    pods = []
    for i in range(60):
        payload = dict(hostnet if i % 2 else podnet)
        name = f"netchecker-agent{'-hostnet' if i % 2 else ''}-{i}"
        payload["podname"] = name
        payload["nodename"] = f"node-{i // 4}" if i % 5 else ""  # pods on one node collide in ncagent_*
        if i % 7 == 0:
            payload["network_probes"] = [
                {**p, "URL": p["URL"] + '?q="x"\\y ü', "Total": 1234567, "DNSLookup": 9223372036854}
                for p in payload["network_probes"]
            ]
        if i % 11 == 0:
            payload["network_probes"] = []
        report = parse_report(payload, name)
        if i % 9 != 0:  # every ninth has no report: absent, or starting when young
            records[name] = AgentRecord(
                report, NOW - i * 0.37, report_count=i * 123_457, missed_keepalives=i % 3
            )
        namespace = 'ns "q" \\ x' if i % 13 == 0 else "netchecker"
        node = "" if i % 5 == 0 else f"node-{i // 4}"
        network = Network.HOST if i % 2 else Network.POD
        young = NOW + 60 if i % 18 == 0 else 0.0
        pods.append(ExpectedPod(name, namespace, node, network, absent_not_before=young))
    return Snapshot(
        verdicts=judge_agents(pods, records, NOW),
        store=StoreHealth(up=False, detail="x"),
        pod_source_kind="kubernetes",
        pod_source=PodSourceHealth(up=False, last_sync_timestamp=None),
        last_success_timestamp=NOW + 0.123456,
        last_duration_seconds=0.0123,
        failures_total=12_345_678,
    )


@pytest.mark.parametrize("open_metrics", [False, True], ids=["text", "openmetrics"])
def test_the_fast_renderer_matches_prometheus_client(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any], open_metrics: bool
) -> None:
    for snapshot in (
        make_snapshot(hostnet_report, podnet_report),
        varied_snapshot(hostnet_report, podnet_report),
        Snapshot((), StoreHealth(up=True), "none", PodSourceHealth(up=True, last_sync_timestamp=None)),
    ):
        fast = render_snapshot(snapshot, "1.2.3", open_metrics=open_metrics)
        assert (
            fast.decode().splitlines() == reference(snapshot, open_metrics=open_metrics).decode().splitlines()
        )
        assert fast == reference(snapshot, open_metrics=open_metrics)


def scrape(scrapes: Scrapes, accept: str = "", accept_encoding: str = "") -> tuple[bytes, dict[str, str]]:
    body, headers = scrapes.metrics.render(accept, accept_encoding)
    return (body if isinstance(body, bytes) else body.read()), headers


class Scrapes:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.registry = CollectorRegistry()
        Counter("netchecker_reports_received", "Reports.", ["result"], registry=self.registry).labels(
            "accepted"
        ).inc()
        self.metrics = MetricsExposition(lambda: self.snapshot, self.registry, version="1.2.3")


def test_a_scrape_is_the_snapshot_then_the_rest_of_the_registry(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    scrapes = Scrapes(make_snapshot(hostnet_report, podnet_report))
    body, headers = scrape(scrapes)
    assert headers["Content-Type"] == choose_encoder("")[1]
    assert body == reference(scrapes.snapshot, open_metrics=False) + generate_latest(scrapes.registry)

    body, headers = scrape(scrapes, accept="application/openmetrics-text; version=1.0.0")
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert b'netchecker_reports_received_total{result="accepted"} 1.0\n' in body
    assert body.endswith(b"\n# EOF\n")
    assert body.count(b"# EOF") == 1


@pytest.mark.parametrize("accept", ["", "application/openmetrics-text; version=1.0.0"])
def test_gzip_scrapes_decompress_to_the_plain_body(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any], accept: str
) -> None:
    scrapes = Scrapes(varied_snapshot(hostnet_report, podnet_report))
    plain, _ = scrape(scrapes, accept)
    for _ in range(2):  # the second scrape continues a copy of the cached compressor
        zipped, headers = scrape(scrapes, accept, "gzip, deflate")
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped) == plain


def test_a_snapshot_is_rendered_once_however_often_it_is_scraped(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[Snapshot] = []
    real = exposition.render_chunks

    def counting(snapshot: Snapshot, version: str) -> exposition.RenderedSnapshot:
        rendered.append(snapshot)
        return real(snapshot, version)

    monkeypatch.setattr(exposition, "render_chunks", counting)
    scrapes = Scrapes(make_snapshot(hostnet_report, podnet_report))
    scrapes.metrics.warm()
    for accept in ("", "application/openmetrics-text; version=1.0.0", ""):
        scrape(scrapes, accept)
        scrape(scrapes, accept, "gzip")
    assert rendered == [scrapes.snapshot]
    scrapes.snapshot = dataclasses.replace(scrapes.snapshot, failures_total=2)
    body, _ = scrape(scrapes)
    assert b"netchecker_reconcile_failures_total 2.0" in body
    assert len(rendered) == 2


def test_a_chunk_file_reads_and_seeks_across_chunks() -> None:
    chunks = [b"abc", b"", b"defg", b"h"]
    whole = b"".join(chunks)
    file = exposition.ChunkFile(chunks)
    assert file.read() == whole
    for start in range(len(whole) + 1):
        for size in (1, 2, 3, 5, 100):
            assert file.seek(start) == start
            assert file.read(size) == whole[start : start + size]
            assert file.tell() == min(start + size, len(whole))
    assert file.seek(-2, 2) == len(whole) - 2
    assert file.read() == b"gh"


def test_the_reconcile_loop_renders_after_each_pass_and_survives_a_failing_hook() -> None:
    store = MemoryStore(report_ttl_seconds=300)
    reconciler = Reconciler(store=store, pods=ReportedPodSource(), check_interval_seconds=0)
    stop = threading.Event()
    calls: list[Snapshot] = []

    def after_pass() -> None:
        calls.append(reconciler.snapshot)
        if len(calls) == 1:
            raise RuntimeError("a bug in rendering")
        if len(calls) == 3:
            stop.set()

    thread = threading.Thread(target=reconciler.run, args=(stop, after_pass), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(calls) == 3
    assert all(snapshot.reconciled for snapshot in calls)


def test_the_api_serves_metrics_through_the_exposition(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    scrapes = Scrapes(make_snapshot(hostnet_report, podnet_report))
    store = MemoryStore(report_ttl_seconds=300)
    app = make_app(
        ApiDependencies(
            store=store,
            judge_agents_now=lambda: (),
            snapshot=lambda: scrapes.snapshot,
            reports_received=Counter("x", "x", registry=CollectorRegistry()),
            max_report_bytes=1000,
            clock=lambda: NOW,
            metrics=scrapes.metrics,
        )
    )
    plain = call_wsgi(app, "GET", "/metrics")
    zipped = call_wsgi(app, "GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    assert b'ncagent_report_count_total{agent="node-1-host_network"} 42.0' in plain.body
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
