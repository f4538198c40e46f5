"""The front's budgets as pure accounting: the ledger of connections, byte and count budgets, the
refusals they make (each naming its flag), the rate-limited log, and the probe answers."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.http.byte_budget import CountBudget
from netchecker_exporter.http.connection_ledger import Admission, ConnectionLedger, LedgerLimits
from netchecker_exporter.http.front_admission import FrontAdmission, FrontMetrics, Refusal
from netchecker_exporter.http.health import HealthEndpoints, readiness
from netchecker_exporter.settings import FrontLimitSettings
from netchecker_exporter.store.base import StoreHealth
from tests.support.clock import FakeClock


def test_a_count_budget_refuses_what_does_not_fit_and_gives_back_what_was_released() -> None:
    budget = CountBudget(10)
    assert budget.try_reserve(6) and not budget.try_reserve(5) and budget.try_reserve(4)
    budget.release(6)
    assert budget.held == 4 and budget.try_reserve(6) and budget.try_reserve(0)


def test_the_ledger_caps_connections_in_total_and_per_client() -> None:
    limits = LedgerLimits(max_connections=4, max_per_client=2, idle_seconds=5, evict_ratio=1)
    ledger = ConnectionLedger(limits)
    assert ledger.admit("10.0.0.1:1", 0) is Admission.KEEP
    assert ledger.admit("10.0.0.1:2", 0) is Admission.KEEP
    assert ledger.admit("10.0.0.1:3", 0) is Admission.OVER_CLIENT
    assert ledger.admit("10.0.0.2:1", 0) is Admission.KEEP
    assert ledger.admit("10.0.0.3:1", 0) is Admission.CLOSE_AFTER  # 4 of 4: at the eviction mark
    assert ledger.admit("10.0.0.4:1", 0) is Admission.OVER_TOTAL
    assert ledger.admit("10.0.0.1:1", 1) is Admission.CLOSE_AFTER  # a known one near the cap: evicted
    ledger.closed("10.0.0.1:1")
    assert len(ledger) == 3 and ledger.held_by("10.0.0.1") == 1


def test_the_ledger_forgets_connections_silent_for_the_idle_timeout_oldest_first() -> None:
    ledger = ConnectionLedger(LedgerLimits(max_connections=10, max_per_client=10, idle_seconds=5))
    ledger.admit("a:1", 0)
    ledger.admit("a:2", 3)
    ledger.touch("a:1", 4)
    ledger.admit("b:1", 8.5)  # a:2 (last used at 3) has gone; a:1 (at 4) is kept
    assert len(ledger) == 2 and ledger.held_by("a") == 1
    ledger.admit("b:2", 20)
    assert len(ledger) == 1 and ledger.held_by("a") == 0


def make_admission(**budgets: int) -> tuple[FrontAdmission, FakeClock, CollectorRegistry]:
    clock, registry = FakeClock(0.0), CollectorRegistry()
    admission = FrontAdmission(FrontLimitSettings(**budgets), FrontMetrics(registry), clock)
    return admission, clock, registry


def error_of(refusal: Refusal | bool | None) -> str:
    assert isinstance(refusal, Refusal)
    assert refusal.status == 503
    return str(json.loads(refusal.body)["error"])


def test_each_refusal_names_its_flag_and_is_counted() -> None:
    admission, _, registry = make_admission(max_connections=1, max_inflight_bytes=100, max_heavy_reads=1)
    assert admission.connection("1.2.3.4:5") is True  # the only slot: at the eviction mark
    assert "-max-connections 1" in error_of(admission.connection("1.2.3.4:6"))
    for host in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        assert admission.reserve_bytes(25, host) is None  # each at its share, a quarter
    refusal = admission.reserve_bytes(20, "10.0.0.5")
    assert "100 bytes of requests and responses are in flight" in error_of(refusal)
    assert "-max-inflight-bytes 100" in error_of(refusal)
    assert refusal is not None and ("connection", "close") in refusal.headers()
    assert admission.start_heavy_read() is None
    heavy = admission.start_heavy_read()
    assert "-max-heavy-reads 1" in error_of(heavy)
    assert heavy is not None and ("retry-after", "1") in heavy.headers()
    assert ("connection", "close") not in heavy.headers()  # nothing held: keep the connection
    for budget in ("connections", "inflight_bytes", "heavy_reads"):
        assert registry.get_sample_value("netchecker_http_refused_total", {"budget": budget}) == 1
    assert registry.get_sample_value("netchecker_http_inflight_bytes") == 100
    assert registry.get_sample_value("netchecker_http_heavy_reads") == 1
    assert registry.get_sample_value("netchecker_http_connections") == 1


def test_the_per_client_refusal_names_the_client() -> None:
    admission, _, _ = make_admission(max_connections_per_client=1)
    admission.connection("10.1.1.1:1")
    assert "client 10.1.1.1 holds 1 connections (-max-connections-per-client 1)" in error_of(
        admission.connection("10.1.1.1:2")
    )
    assert admission.connection("10.1.1.2:1") is False  # another client, far from the cap


def test_refusals_are_logged_once_per_interval_with_the_count_since(caplog: pytest.LogCaptureFixture) -> None:
    admission, clock, _ = make_admission(max_heavy_reads=1)
    admission.start_heavy_read()
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            admission.start_heavy_read()
        clock.advance(11)
        admission.start_heavy_read()
    lines = [r.getMessage() for r in caplog.records if "front budget heavy_reads" in r.getMessage()]
    assert len(lines) == 2
    assert "(1 refused since the last line)" in lines[0] and "(5 refused since the last line)" in lines[1]


def test_readiness_names_every_reason() -> None:
    assert readiness(StoreHealth(up=True), reconciled=True, pods_up=True) == (200, {"status": "ready"})
    status, payload = readiness(
        StoreHealth(up=False, detail="etcd alarm NOSPACE"), reconciled=False, pods_up=True
    )
    assert status == 503
    assert payload["reasons"] == [
        "store unavailable: etcd alarm NOSPACE",
        "no reconcile pass has succeeded yet",
    ]


def test_a_pod_list_that_never_loaded_keeps_the_server_in_its_service() -> None:
    """Reports are stored whatever the pod source's state (issue 22): no pass, yet ready."""
    assert readiness(StoreHealth(up=True), reconciled=False, pods_up=False) == (200, {"status": "ready"})


def test_the_probe_answers_read_only_published_state() -> None:
    health = {"up": False}
    endpoints = HealthEndpoints(lambda: StoreHealth(up=health["up"]), lambda: True, lambda: True)
    assert endpoints.answer("/healthz").status == 200
    assert endpoints.answer("/readyz").status == 503
    health["up"] = True
    answer = endpoints.answer("/readyz")
    assert (answer.status, json.loads(answer.body)) == (200, {"status": "ready"})


def test_one_client_may_hold_a_quarter_of_the_byte_budget() -> None:
    admission, _, _ = make_admission(max_inflight_bytes=400)
    assert admission.reserve_bytes(60, "10.0.0.1") is None
    assert admission.reserve_bytes(40, "10.0.0.1") is None
    error = error_of(admission.reserve_bytes(1, "10.0.0.1"))
    assert "client 10.0.0.1 has 100 bytes of requests and responses in flight" in error
    assert "its share (100) of -max-inflight-bytes 400" in error
    assert admission.reserve_bytes(100, "10.0.0.2") is None  # another client still fits
    admission.release_bytes(60, "10.0.0.1")
    assert admission.reserve_bytes(60, "10.0.0.1") is None
    assert admission.inflight_bytes == 200


def test_a_response_larger_than_the_share_goes_to_a_client_holding_nothing_else() -> None:
    """Charged the share, not refused forever: a big fleet's status page is larger than it."""
    admission, _, _ = make_admission(max_inflight_bytes=400)
    charge = admission.response_charge(1_000, "10.0.0.1")
    assert charge == 100
    assert admission.reserve_response_bytes(charge, "10.0.0.1") is None
    second = admission.response_charge(1_000, "10.0.0.1")
    assert second == 1_000  # while it holds the first, a second is charged whole: refused
    assert "would exceed its share (100)" in error_of(admission.reserve_response_bytes(second, "10.0.0.1"))
    assert admission.response_charge(50, "10.0.0.2") == 50  # within the share: its size
    admission.release_bytes(charge, "10.0.0.1")
    assert admission.inflight_bytes == 0


def test_a_larger_pipe_is_held_only_where_the_budget_and_the_share_have_room() -> None:
    """A reader's pipe grows into what is left; where nothing is, it keeps its pipe, unrefused."""
    admission, _, registry = make_admission(max_inflight_bytes=400)
    assert admission.reserve_response_bytes(60, "10.0.0.1") is None
    assert admission.reserve_more_response_bytes(40, "10.0.0.1")
    assert not admission.reserve_more_response_bytes(1, "10.0.0.1")  # its share (100) is held
    for host, size in (("10.0.0.2", 100), ("10.0.0.3", 100), ("10.0.0.4", 90)):
        assert admission.reserve_bytes(size, host) is None
    assert not admission.reserve_more_response_bytes(20, "10.0.0.5")  # 390 of 400 held
    refused = registry.get_sample_value("netchecker_http_refused_total", {"budget": "inflight_bytes"})
    assert refused in (None, 0)
    admission.release_bytes(100, "10.0.0.1")
    assert admission.inflight_bytes == 290
    assert admission.reserve_more_response_bytes(100, "10.0.0.1")
