"""The fast /metrics writer writes exactly what prometheus_client writes for SnapshotCollector.

Both derive from the family table; this holds the bytes identical, through cache hits and misses.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics import exposition as openmetrics

from netchecker_exporter.check import AgentStatus
from netchecker_exporter.diagnosis.nodes import diagnose
from netchecker_exporter.http.defence import ApiCounters
from netchecker_exporter.http.routes import ApiDependencies, make_app
from netchecker_exporter.metrics.chunk_file import ChunkFile
from netchecker_exporter.metrics.deflate_run import DeflateRun, deflate_run
from netchecker_exporter.metrics.exposition import AgentCache, MetricsExposition
from netchecker_exporter.metrics.segment_file import Segment, SegmentFile
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import REFRESH_AFTER_REPORT_SECONDS
from netchecker_exporter.report import DEFAULT_MAX_PROBES
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from netchecker_exporter.store.memory import MemoryStore
from netchecker_exporter.stored_fields import DEFAULT_MAX_STORED_FIELD_BYTES
from tests.support.api_server import Server, memory_reconciler
from tests.support.oracle import SnapshotCollector, oracle_body, render_snapshot
from tests.support.polling import wait_until
from tests.support.reports import NOW, make_snapshot, varied_snapshot
from tests.support.wsgi import call_wsgi


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
            fast.decode().splitlines()
            == oracle_body(snapshot, "1.2.3", open_metrics=open_metrics).decode().splitlines()
        )
        assert fast == oracle_body(snapshot, "1.2.3", open_metrics=open_metrics)


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


@pytest.fixture(params=["", "application/openmetrics-text; version=1.0.0"], ids=["text", "openmetrics"])
def accept(request: pytest.FixtureRequest) -> str:
    """The Accept header of a test that holds for both formats: it runs once for each."""
    value: str = request.param
    return value


@pytest.fixture
def scrapes(hostnet_report: dict[str, Any], podnet_report: dict[str, Any]) -> Scrapes:
    """The exposition of a Snapshot with agents of every status, beside a registry of one counter."""
    return Scrapes(varied_snapshot(hostnet_report, podnet_report))


def test_a_scrape_is_the_snapshot_then_the_rest_of_the_registry(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    scrapes = Scrapes(make_snapshot(hostnet_report, podnet_report))
    body, headers = scrape(scrapes)
    assert headers["Content-Type"] == choose_encoder("")[1]
    assert body == oracle_body(scrapes.snapshot, "1.2.3", open_metrics=False) + generate_latest(
        scrapes.registry
    )

    body, headers = scrape(scrapes, accept="application/openmetrics-text; version=1.0.0")
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert b'netchecker_reports_received_total{result="accepted"} 1.0\n' in body
    assert body.endswith(b"\n# EOF\n")
    assert body.count(b"# EOF") == 1


def test_gzip_scrapes_decompress_to_the_plain_body(scrapes: Scrapes, accept: str) -> None:
    plain, _ = scrape(scrapes, accept)
    for _ in range(2):  # the second scrape continues a copy of the cached compressor
        zipped, headers = scrape(scrapes, accept, "gzip, deflate")
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped) == plain


def changed(snapshot: Snapshot) -> Snapshot:
    """The next Snapshot: one agent reported again, one went outdated, one departed, one came."""
    first, second, *rest = (v for v in snapshot.verdicts if v.record is not None)
    assert first.record is not None and second.record is not None
    again = dataclasses.replace(
        first.record, last_updated=NOW + 5, report_count=first.record.report_count + 1
    )
    verdicts = [
        dataclasses.replace(first, record=again),
        dataclasses.replace(second, status=AgentStatus.OUTDATED, missed_keepalives=9),
        *rest[1:],
        dataclasses.replace(rest[0], pod=dataclasses.replace(rest[0].pod, name=rest[0].pod.name + "-new")),
    ]
    return dataclasses.replace(snapshot, verdicts=tuple(verdicts), failures_total=2)


def test_a_new_snapshot_is_rendered_from_cached_and_rewritten_agents_alike(
    scrapes: Scrapes, accept: str
) -> None:
    open_metrics = bool(accept)
    tail = (openmetrics.generate_latest if open_metrics else generate_latest)(scrapes.registry)
    for snapshot in (scrapes.snapshot, changed(scrapes.snapshot), changed(changed(scrapes.snapshot))):
        scrapes.snapshot = snapshot
        scrapes.metrics.warm()
        body, _ = scrape(scrapes, accept)
        assert body == oracle_body(snapshot, "1.2.3", open_metrics=open_metrics) + tail
        zipped, _ = scrape(scrapes, accept, "gzip")
        assert gzip.decompress(zipped) == body


@pytest.mark.parametrize("legacy_metrics", [True, False])
def test_an_agent_that_cannot_render_is_skipped_by_the_fast_writer_too(
    hostnet_report: dict[str, Any],
    podnet_report: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    legacy_metrics: bool,
) -> None:
    snapshot = make_snapshot(hostnet_report, podnet_report)
    broken = snapshot.verdicts[0]
    assert broken.record is not None
    bad = dataclasses.replace(broken.record, report_count=10**400)
    snapshot = dataclasses.replace(
        snapshot, verdicts=(dataclasses.replace(broken, record=bad), *snapshot.verdicts[1:])
    )
    registry = CollectorRegistry()
    metrics = MetricsExposition(lambda: snapshot, registry, version="1.2.3", legacy_metrics=legacy_metrics)
    for _ in range(3):
        body, _ = metrics.render("", "")
        text = body.read() if not isinstance(body, bytes) else body
        assert b"netchecker_agents_unrenderable 1.0" in text
        assert broken.pod.name.encode() not in text
        assert (b"ncagent_" in text) is legacy_metrics
        metrics_collector = CollectorRegistry()
        metrics_collector.register(
            SnapshotCollector(lambda s=snapshot: s, version="1.2.3", legacy_metrics=legacy_metrics)
        )
        assert text == generate_latest(metrics_collector)
        snapshot = dataclasses.replace(snapshot, failures_total=snapshot.failures_total + 1)
    logged = [r for r in caplog.records if r.name == "netchecker_exporter.metrics.exposition"]
    assert len(logged) == 1


def test_the_unrenderable_agents_logged_once_are_forgotten_when_they_depart(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    """A per-name set must not keep every one-shot name that ever failed to render (issue 9)."""
    snapshot = make_snapshot(hostnet_report, podnet_report)
    broken = snapshot.verdicts[0]
    assert broken.record is not None
    bad = dataclasses.replace(broken, record=dataclasses.replace(broken.record, report_count=10**400))
    cache = AgentCache(legacy_metrics=True)
    assert cache.update((bad, *snapshot.verdicts[1:]))[1] == 1
    assert (broken.pod.namespace, broken.pod.name) in cache._logged
    assert cache.update(snapshot.verdicts[1:])[1] == 0
    assert not cache._logged


def test_gzip_is_used_only_when_accepted(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    """prometheus_client's gzip_accepted: a token match (it does not read q-values: gzip;q=0 is gzip)."""
    scrapes = Scrapes(make_snapshot(hostnet_report, podnet_report))
    for encoding, zipped in (
        ("x-gzip-like", False),
        ("identity", False),
        ("GZIP", True),
        ("br, gzip;q=1", True),
    ):
        _, headers = scrape(scrapes, "", encoding)
        assert ("Content-Encoding" in headers) is zipped, encoding


def test_a_chunk_file_reads_and_seeks_across_chunks() -> None:
    chunks = [b"abc", b"", b"defg", b"h"]
    whole = b"".join(chunks)
    file = ChunkFile(chunks)
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
    reconciler = memory_reconciler(
        store=store,
        pods=ReportedPodSource(),
        check_interval_seconds=0,
    )
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
            counters=ApiCounters.register(CollectorRegistry()),
            max_probes_per_report=DEFAULT_MAX_PROBES,
            max_stored_field_bytes=DEFAULT_MAX_STORED_FIELD_BYTES,
        )
    )
    plain = call_wsgi(app, "GET", "/metrics")
    zipped = call_wsgi(app, "GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    assert b'ncagent_report_count_total{agent="node-1-host_network"} 42.0' in plain.body
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body


def test_an_accepted_report_is_on_the_next_scrape_within_a_second(hostnet_report: dict[str, Any]) -> None:
    """Its counter, last-report timestamp and probes, long before the (one-minute) check interval."""
    server = Server(
        time.time, check_interval_seconds=60, max_report_bytes=1_000_000, max_probes_per_report=32
    )
    reconciler, app = server.reconciler, server.app
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop, server.house.after_pass), daemon=True)
    loop.start()
    pod = hostnet_report["podname"]
    labels = f'namespace="",network="host",node="node-1",pod="{pod}"'
    body = json.dumps(hostnet_report).encode()

    def scraped() -> str:
        return call_wsgi(app, "GET", "/metrics").body.decode()

    try:
        wait_until(lambda: reconciler.snapshot.reconciled, 10, "the first pass")
        for count in (1, 2):
            posted = time.monotonic()
            assert call_wsgi(app, "POST", f"/api/v1/agents/{pod}", body).status == 200
            line = f"netchecker_agent_reports_total{{{labels}}} {count}.0"
            wait_until(lambda line=line: line in scraped(), 5, "the report on /metrics")
            assert (
                time.monotonic() - posted < 1.0 + REFRESH_AFTER_REPORT_SECONDS
            )  # slack for a loaded machine
        assert f"netchecker_agent_last_report_timestamp_seconds{{{labels}}}" in scraped()
        assert f'netchecker_agent_probe_duration_seconds{{{labels},url="' in scraped()
    finally:
        stop.set()
        loop.join(timeout=5)


def test_a_body_never_mixes_two_passes(hostnet_report: dict[str, Any], podnet_report: dict[str, Any]) -> None:
    """The agents' lines and the diagnosis families come from the one Snapshot a scrape reads, even
    when every read of the current Snapshot gives the other pass (as a pass ending mid-scrape does)."""
    judged = make_snapshot(hostnet_report, podnet_report)
    busy = dataclasses.replace(judged, diagnosis=diagnose(judged.verdicts, NOW, DiagnosisSettings()))
    empty = Snapshot((), StoreHealth(up=True), "none", PodSourceHealth(up=True, last_sync_timestamp=None))
    assert busy.diagnosis.cluster.verdict != "unknown"
    passes = itertools.cycle([busy, empty])
    metrics = MetricsExposition(lambda: next(passes), CollectorRegistry(), version="1.2.3")
    unknown = b'netchecker_cluster_verdict{verdict="unknown"} 1.0'
    for _ in range(6):
        for accept_encoding in ("", "gzip"):
            body, _headers = metrics.render("", accept_encoding)
            text = body.read()
            text = gzip.decompress(text) if accept_encoding else text
            has_agents = b"netchecker_agent_reports_total{" in text
            assert has_agents != (unknown in text), "agent lines of one pass beside another's diagnosis"


def test_a_segment_file_reads_runs_as_if_inflated_in_any_block_size() -> None:
    segments: list[Segment] = [
        b"head\n",
        deflate_run([b"a1", b"", b"b22", b"c333"]),
        b"",
        deflate_run([]),
        deflate_run([b"tail"]),
    ]
    whole = b"head\na1b22c333tail"
    for size in (1, 2, 3, 7, 100):
        file, read = SegmentFile(segments), []
        while block := file.read(size):
            read.append(block)
            assert len(block) <= size
        assert b"".join(read) == whole
    assert isinstance(segments[1], DeflateRun)  # the caller's layout is not consumed


def test_a_text_scrape_says_its_length_and_keeps_no_joined_copy(scrapes: Scrapes, accept: str) -> None:
    body, headers = scrape(scrapes, accept)
    assert int(headers["Content-Length"]) == len(body)
    rendered = scrapes.metrics._current()
    segments, size = rendered.segments("1.2.3", open_metrics=bool(accept))
    agent_runs = [segment for segment in segments if isinstance(segment, DeflateRun)]
    assert agent_runs  # the agents' lines are the cached runs, not a copy
    cached = {id(family) for run in (*rendered.runs.agent, *rendered.runs.legacy) for family in run.families}
    assert {id(run) for run in agent_runs} <= cached
    assert size < len(body)  # the registry's tail follows
