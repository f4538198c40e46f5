"""Shared fixtures: the real agent reports, a fake clock, a real etcd; helpers live in tests/support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeClock
from tests.support.etcd import EtcdProcess
from tests.support.paths import load_fixture


@pytest.fixture
def hostnet_report() -> dict[str, Any]:
    return load_fixture("agent-report-hostnet.json")


@pytest.fixture
def podnet_report() -> dict[str, Any]:
    return load_fixture("agent-report-podnet-failed-probe.json")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    """A real etcd of the test's own on free loopback ports, killed afterwards."""
    process = EtcdProcess(tmp_path / "etcd")
    process.start()
    yield process
    process.kill()
