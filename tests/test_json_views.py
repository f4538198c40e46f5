"""The JSON views and /metrics are rendered once per version and every reader is sent the same
bytes: identical objects across reads, a new body only when what it shows changed, gzip decoding
to the plain body, and the same bytes as the per-request rendering they replace."""

from __future__ import annotations

import dataclasses
import gzip
import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from netchecker_exporter.diagnosis.nodes import diagnose
from netchecker_exporter.diagnosis.to_json import diagnosis_to_json
from netchecker_exporter.http.json_views import AgentListing, DiagnosisView, json_in_slices
from netchecker_exporter.http.shared_body import SharedBody
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.report import AgentRecord, record_to_json
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.store.capacity import AgentCapacity
from tests.support.api_server import Server
from tests.support.clock import FakeClock
from tests.support.reports import NOW, agent_report, make_snapshot


@pytest.fixture
def server(clock: FakeClock) -> Server:
    return Server(clock, AgentCapacity(max_agents=10))


def records(*names: str) -> dict[str, AgentRecord]:
    return {name: AgentRecord(agent_report(name), NOW, report_count=1, missed_keepalives=0) for name in names}


def per_request_listing(stored: dict[str, AgentRecord]) -> bytes:
    """What GET /api/v1/agents/ sent before it was shared: one json.dumps per record, sorted."""
    parts = [
        f"{json.dumps(n)}:{json.dumps(record_to_json(r), allow_nan=False)}" for n, r in sorted(stored.items())
    ]
    return ("{" + ",".join(parts) + "}").encode()


def skipped_counter() -> Counter:
    return Counter("skipped", "Records left out.", registry=CollectorRegistry())


def read(body: SharedBody, *, gzipped: bool = False) -> bytes:
    file, _headers = body.response(gzip=gzipped)
    return file.read()


def test_the_listing_is_rendered_once_and_shared_until_a_record_changes() -> None:
    listing = AgentListing(skipped_counter())
    stored = records("agent-b", "agent-a")
    first = listing.body(stored)
    assert listing.body(dict(stored)) is first  # a fresh copy of the same records: no new render
    assert read(first) == per_request_listing(stored)
    changed = {**stored, "agent-a": dataclasses.replace(stored["agent-a"], report_count=2)}
    second = listing.body(changed)
    assert second is not first
    assert read(second) == per_request_listing(changed)
    assert listing.body({}) is not second
    assert read(listing.body({})) == b"{}"


def test_every_reader_of_a_view_is_sent_the_same_chunk_objects() -> None:
    body = AgentListing(skipped_counter()).body(records("agent-a"))
    first, second = body.response(gzip=False)[0], body.response(gzip=False)[0]
    assert first.read() == second.read()
    assert body.chunks[0] is body.chunks[0]
    assert body.gzipped() is body.gzipped()  # compressed once


def test_the_gzip_form_decodes_to_the_plain_body_and_says_so_in_its_headers() -> None:
    body = AgentListing(skipped_counter()).body(records(*(f"agent-{i}" for i in range(50))))
    file, headers = body.response(gzip=True)
    data = file.read()
    assert gzip.decompress(data) == read(body)
    assert headers == {
        "Vary": "Accept-Encoding",
        "Content-Encoding": "gzip",
        "Content-Length": str(len(data)),
    }
    assert len(data) < body.size / 5


def test_the_diagnosis_is_rendered_once_per_diagnosis_and_filter(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    snapshot = make_snapshot(hostnet_report, podnet_report)
    diagnosis = diagnose(snapshot.verdicts, NOW, DiagnosisSettings())
    view = DiagnosisView()
    whole = view.body(diagnosis, problems_only=False)
    problems = view.body(diagnosis, problems_only=True)
    assert view.body(diagnosis, problems_only=False) is whole
    assert view.body(diagnosis, problems_only=True) is problems
    assert read(whole) == json.dumps(diagnosis_to_json(diagnosis)).encode()
    assert read(problems) == json.dumps(diagnosis_to_json(diagnosis, problems_only=True)).encode()
    again = diagnose(snapshot.verdicts, NOW + 1, DiagnosisSettings())
    assert view.body(again, problems_only=False) is not whole


def test_the_api_serves_the_listing_plain_or_gzipped_as_the_client_asks(
    server: Server, hostnet_report: dict[str, Any]
) -> None:
    for index in range(3):
        assert server.post(hostnet_report, f"agent-{index}").status == 200
    plain = server.get("/api/v1/agents/")
    zipped = server.get("/api/v1/agents/", ACCEPT_ENCODING="gzip, deflate")
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    assert plain.headers["Content-Length"] == str(len(plain.body))
    assert sorted(plain.json()) == ["agent-0", "agent-1", "agent-2"]
    assert server.post(hostnet_report, "agent-3").status == 200
    assert "agent-3" in server.get("/api/v1/agents/").json()  # read-your-writes: a new version


def test_the_api_serves_the_diagnosis_gzipped_when_asked(
    server: Server, hostnet_report: dict[str, Any]
) -> None:
    server.post(hostnet_report, "agent-0")
    server.reconciler.reconcile_once()
    plain = server.get("/api/v1/diagnosis")
    zipped = server.get("/api/v1/diagnosis", ACCEPT_ENCODING="gzip")
    assert gzip.decompress(zipped.body) == plain.body
    assert plain.json()["cluster"]["nodes_judged"] == 1


def test_text_scrapes_of_one_snapshot_share_the_laid_out_chunks(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    snapshot = make_snapshot(hostnet_report, podnet_report)
    metrics = MetricsExposition(lambda: snapshot, CollectorRegistry(), version="1.2.3")
    rendered = metrics._current()
    first = rendered.segments("1.2.3", open_metrics=False)
    assert rendered.segments("1.2.3", open_metrics=False) is first
    assert metrics._current() is rendered
    body, _ = metrics.render("", "")
    assert body.read().startswith(b"".join(rendered.chunks("1.2.3", open_metrics=False)))


@pytest.mark.parametrize(
    "value",
    [
        {
            "at": None,
            "cluster": {"verdict": "ok", "by": {"a": 1}},
            "nodes": [{"n": "é", "x": [1.5, None]}, {}],
        },
        {"empty": [], "tuple": (1, "two"), "nested": {"deeper": {"list": [[1], [2]]}}, "nan": float("nan")},
        [1, {"a": "b"}],
        {1: "an int key, which json.dumps turns into a string"},
        "plain",
        [],
    ],
)
def test_json_in_slices_writes_what_json_dumps_writes(value: object) -> None:
    assert "".join(json_in_slices(value)) == json.dumps(value)
