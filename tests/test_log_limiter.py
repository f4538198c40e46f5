"""The refusal log limiter with a fake clock: the first few per key, then a summary per interval."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, Counter

from netchecker_exporter.http.defence import ApiCounters
from netchecker_exporter.http.log_limiter import (
    FIRST_PER_KEY,
    OVERFLOW_CLIENT,
    RefusalLogLimiter,
    summarize_left_out,
)
from netchecker_exporter.http.routes import ApiDependencies, make_app
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.report import DEFAULT_MAX_PROBES
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.memory import MemoryStore
from netchecker_exporter.stored_fields import DEFAULT_MAX_STORED_FIELD_BYTES
from tests.support.api_server import JSON, Server
from tests.support.clock import FakeClock
from tests.support.wsgi import call_wsgi


def test_the_first_few_refusals_per_client_and_reason_are_logged_then_counted() -> None:
    clock = FakeClock()
    limiter = RefusalLogLimiter(first_per_key=3, interval_seconds=60, clock=clock)
    decisions = [limiter.decide(("10.0.0.1", "invalid")) for _ in range(10)]
    assert [d.log_this for d in decisions] == [True] * 3 + [False] * 7
    assert limiter.decide(("10.0.0.1", "too_large")).log_this  # another reason: its own allowance
    assert limiter.decide(("10.0.0.2", "invalid")).log_this  # another client too
    assert all(d.left_out is None for d in decisions)


def test_one_summary_per_interval_carries_the_counts_left_out_and_starts_afresh() -> None:
    clock = FakeClock()
    limiter = RefusalLogLimiter(first_per_key=2, interval_seconds=60, clock=clock)
    for _ in range(2000):
        limiter.decide(("10.0.0.1", "invalid"))
    clock.advance(59)
    assert limiter.decide(("10.0.0.1", "invalid")).left_out is None
    clock.advance(1)
    decision = limiter.decide(("10.0.0.1", "invalid"))
    assert decision.left_out == {("10.0.0.1", "invalid"): 1999}
    assert decision.log_this  # a new interval: the allowance again
    clock.advance(60)
    assert limiter.decide(("10.0.0.1", "invalid")).left_out is None  # nothing was left out


def test_made_up_clients_beyond_the_key_cap_share_one_key_per_reason() -> None:
    clock = FakeClock()
    limiter = RefusalLogLimiter(first_per_key=1, interval_seconds=60, max_keys=3, clock=clock)
    logged = sum(limiter.decide((f"10.0.0.{i}", "invalid")).log_this for i in range(100))
    assert logged == 3 + 1  # three keys of their own, then the overflow key's one line
    clock.advance(60)
    assert limiter.decide(("x", "invalid")).left_out == {(OVERFLOW_CLIENT, "invalid"): 96}


def test_the_summary_is_one_line_naming_the_most_refused_first() -> None:
    left_out = {(f"10.0.0.{i}", "invalid"): i for i in range(1, 8)}
    assert summarize_left_out(left_out) == (
        "28 in all: 7 from 10.0.0.7 (invalid), 6 from 10.0.0.6 (invalid), 5 from 10.0.0.5 (invalid), "
        "4 from 10.0.0.4 (invalid), 3 from 10.0.0.3 (invalid) and 2 more clients or reasons"
    )
    assert summarize_left_out({("", "too_large"): 2}) == "2 in all: 2 from ? (too_large)"


def test_a_flood_of_bad_reports_writes_a_few_log_lines_and_counts_every_one(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server(clock, AgentCapacity(max_agents=10))
    caplog.set_level(logging.DEBUG, logger="netchecker_exporter.http.routes")
    for _ in range(300):
        response = call_wsgi(
            server.app, "POST", "/api/v1/agents/agent-0", b"{not json", {"Content-Type": JSON}
        )
        assert response.status == 400
    assert server.value("netchecker_reports_refused_total", reason="invalid") == 300
    assert len([r for r in caplog.records if "-> 400" in r.getMessage()]) == FIRST_PER_KEY


def test_after_the_interval_the_app_writes_one_summary_line_of_what_it_left_out(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore(report_ttl_seconds=300, clock=clock)
    registry = CollectorRegistry()
    snapshot = Snapshot((), store.health(), "none", PodSourceHealth(up=True, last_sync_timestamp=None))
    app = make_app(
        ApiDependencies(
            store=store,
            judge_agents_now=lambda: (),
            snapshot=lambda: snapshot,
            metrics=MetricsExposition(lambda: snapshot, registry, version="t"),
            reports_received=Counter(
                "netchecker_reports_received", "Reports.", ["result"], registry=registry
            ),
            max_report_bytes=1 << 20,
            clock=clock,
            counters=ApiCounters.register(registry),
            max_probes_per_report=DEFAULT_MAX_PROBES,
            max_stored_field_bytes=DEFAULT_MAX_STORED_FIELD_BYTES,
            refusal_log=RefusalLogLimiter(first_per_key=2, interval_seconds=60, clock=clock),
        )
    )
    caplog.set_level(logging.DEBUG, logger="netchecker_exporter.http.routes")
    for _ in range(10):
        call_wsgi(app, "POST", "/api/v1/agents/agent-0", b"[]", {"Content-Type": JSON})
    clock.advance(60)
    call_wsgi(app, "POST", "/api/v1/agents/agent-0", b"[]", {"Content-Type": JSON})
    summaries = [r.getMessage() for r in caplog.records if "not logged" in r.getMessage()]
    assert summaries == ["refusals not logged in the last minute: 8 in all: 8 from ? (invalid)"]
    assert len([r for r in caplog.records if "-> 400" in r.getMessage()]) == 2 + 1
