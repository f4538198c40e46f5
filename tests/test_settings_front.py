"""The HTTP front's budget flags: defaults, every source, bounds, and the serve settings they make."""

from __future__ import annotations

import pytest

from netchecker_exporter.cli import MEMORY_STORE_INGEST_THREADS, ingest_threads
from netchecker_exporter.flags import INGEST_THREADS, format_help
from netchecker_exporter.http.front import HEALTH_RESERVE_CONNECTIONS, granian_connection_cap
from netchecker_exporter.settings import FrontLimitSettings
from tests.support.settings import load, problems_of


def test_the_front_defaults() -> None:
    assert load([]).front == FrontLimitSettings(
        max_connections=8192,
        max_connections_per_client=1024,
        max_inflight_bytes=64 * 1024 * 1024,
        max_heavy_reads=4,
        max_head_bytes=16384,
    )


def test_the_front_flags_come_from_flags_environment_and_the_file() -> None:
    settings = load(
        ["-max-connections=500", "--max-heavy-reads", "2", "-config=front.yml"],
        {"NETCHECKER_MAX_INFLIGHT_BYTES": "2097152", "NETCHECKER_MAX_CONNECTIONS_PER_CLIENT": "50"},
        {"front.yml": "max-head-bytes: 32768\n"},
    )
    assert settings.front == FrontLimitSettings(500, 50, 2_097_152, 2, 32768)
    assert "max-connections=500" in settings.describe()
    assert "max-head-bytes=32768" in settings.describe()


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["-max-connections=0"], "-max-connections must be greater than 0 (got 0)"),
        (["-max-connections-per-client=-1"], "-max-connections-per-client must be greater than 0 (got -1)"),
        (["-max-heavy-reads=0"], "-max-heavy-reads must be greater than 0 (got 0)"),
        (["-max-head-bytes=4096"], "-max-head-bytes must be from 8192 to 1048576 (got 4096)"),
        (["-max-head-bytes=2000000"], "-max-head-bytes must be from 8192 to 1048576 (got 2000000)"),
        (
            ["-max-inflight-bytes=1000"],
            "-max-inflight-bytes (1000) must be at least -max-report-bytes (1048576): "
            "a largest report must fit",
        ),
        (["-max-inflight-bytes=lots"], "flag -max-inflight-bytes: 'lots' is not an integer"),
    ],
)
def test_each_bad_front_value_gets_its_exact_message(argv: list[str], problem: str) -> None:
    assert problem in problems_of(argv)


def test_help_lists_the_front_group() -> None:
    text = format_help("netchecker-exporter")
    assert "HTTP front:" in text
    for name in ("max-connections", "max-connections-per-client", "max-inflight-bytes", "max-heavy-reads",
                 "max-head-bytes"):  # fmt: skip
        assert f"-{name} " in text


def test_granian_accepts_the_cap_plus_a_reserve_for_probes() -> None:
    assert granian_connection_cap(FrontLimitSettings(max_connections=100)) == 100 + HEALTH_RESERVE_CONNECTIONS


def test_the_memory_store_takes_reports_on_one_thread_and_etcd_on_many() -> None:
    """A memory-store write never waits; an etcd write holds its thread until the group commit."""
    assert ingest_threads(load([])) == MEMORY_STORE_INGEST_THREADS == 1
    assert ingest_threads(load(["-etcd-endpoints=http://127.0.0.1:2379"])) == INGEST_THREADS == 48
