"""Shared fixtures: the real agent reports, a fake clock, a real etcd; helpers live in tests/support."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.support.clock import FakeClock
from tests.support.etcd import EtcdProcess
from tests.support.paths import load_fixture

# No per-example deadline: it is a wall-time check, and on a loaded machine a property that holds
# fails by being slow (make test runs on shared 2-core machines). Each property's own assertions stay.
settings.register_profile("netchecker", deadline=None)
settings.load_profile("netchecker")


def pytest_collection_finish() -> None:
    """What collection built (test modules, their imports, the items) lives until the session ends:
    frozen out of the garbage collector's walks, which otherwise cross it again in every full
    collection and in pytest's five at the session's end (about 1 s per xdist worker)."""
    gc.freeze()


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


@pytest.fixture(scope="module")
def shared_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """One real etcd for a module whose tests each keep to a tree of their own (fewer starts)."""
    process = EtcdProcess(tmp_path_factory.mktemp("etcd-shared"))
    process.start()
    yield process
    process.kill()


SLOW_MARKS = frozenset({"process", "etcd"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that start processes or an etcd first, each kind in collection order: xdist hands
    tests out in this order, and a run that ended on them left one worker finishing a 6 s etcd test
    while the others sat idle (docs/development.md#keeping-make-test-under-a-minute)."""
    items.sort(key=lambda item: 0 if SLOW_MARKS & {mark.name for mark in item.iter_markers()} else 1)
