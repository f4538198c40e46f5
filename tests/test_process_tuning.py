"""Process tuning for 10,000 agents: rare cyclic GC, short GIL slices, glibc giving big blocks back."""

from __future__ import annotations

import gc
import os
import platform
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from netchecker_exporter import tuning
from tests.support.clock import FakeClock
from tests.support.exporter import CONSOLE_SCRIPT, EXPORTER_PY, ExporterProcess


def test_tune_interpreter_freezes_start_up_objects_raises_gc_thresholds_and_shortens_gil_slices() -> None:
    before, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        tuning.tune_interpreter()
        assert gc.get_threshold() == tuning.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert sys.getswitchinterval() == pytest.approx(tuning.SWITCH_INTERVAL_SECONDS)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        sys.setswitchinterval(interval)


def test_tune_malloc_sets_the_mmap_threshold_on_glibc() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert tuning.tune_malloc() is True


def test_tune_malloc_caps_glibcs_arenas(monkeypatch: pytest.MonkeyPatch) -> None:
    """48 ingest threads took all 16 arenas of two cores, each keeping a fragmented heap after a
    flood expired (issue 9): the cap is set before the server's threads start."""
    calls: list[tuple[int, int]] = []

    class FakeLibc:
        def mallopt(self, parameter: int, value: int) -> int:
            calls.append((parameter, value))
            return 1

    monkeypatch.setattr(tuning.ctypes.util, "find_library", lambda _name: "libc.so.6")
    monkeypatch.setattr(tuning.ctypes, "CDLL", lambda _name: FakeLibc())
    assert tuning.tune_malloc() is True
    assert (tuning.M_ARENA_MAX, tuning.MALLOC_ARENA_MAX) in calls
    assert (tuning.M_MMAP_THRESHOLD, tuning.MALLOC_MMAP_THRESHOLD_BYTES) in calls


def test_the_server_re_execs_on_jemalloc_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc's malloc let the steady fleet's records pin the pages a flood freed (issue 9): the
    re-exec preloads jemalloc, with its own settings unless MALLOC_CONF is given."""
    monkeypatch.setattr(tuning.ctypes.util, "find_library", lambda name: f"lib{name}.so.2")
    assert tuning.jemalloc_environment({}) == {
        "LD_PRELOAD": "libjemalloc.so.2",
        "MALLOC_CONF": tuning.JEMALLOC_CONF,
    }
    assert tuning.jemalloc_environment({"MALLOC_CONF": "narenas:2"})["MALLOC_CONF"] == "narenas:2"
    assert tuning.jemalloc_environment({"LD_PRELOAD": "libtcmalloc.so"}) == {}
    monkeypatch.setattr(tuning.ctypes.util, "find_library", lambda _name: None)
    assert tuning.jemalloc_environment({}) == {}


@pytest.mark.process
@pytest.mark.parametrize("program", [EXPORTER_PY, CONSOLE_SCRIPT], ids=["exporter.py", "console-script"])
def test_the_exporter_runs_on_jemalloc_when_it_is_installed(program: tuple[str, ...]) -> None:
    """The real re-exec, by either way in: the process maps jemalloc (and trims through its mallctl), and
    every thread runs as SCHED_BATCH."""
    if tuning.ctypes.util.find_library("jemalloc") is None:
        pytest.fail("libjemalloc2 is not installed: `make test` installs it (scripts/ensure-debian-packages)")
    server = ExporterProcess(program=program)
    try:
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert "libjemalloc.so.2" in maps
        assert set(_thread_policies(server.process.pid)) == {tuning.SCHED_BATCH_POLICY}
    finally:
        server.stop()


def _thread_policies(pid: int) -> list[int]:
    """Each thread's scheduling policy (the 41st field of its stat, counted after the name)."""
    stats = [task.joinpath("stat").read_text() for task in Path(f"/proc/{pid}/task").iterdir()]
    return [int(stat.rsplit(")", 1)[1].split()[38]) for stat in stats]


def test_schedule_as_batch_sets_the_calling_threads_policy() -> None:
    """In a thread of its own, so the test process keeps its policy."""
    seen: list[int] = []

    def run() -> None:
        assert tuning.schedule_as_batch()
        seen.append(os.sched_getscheduler(0))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [os.SCHED_BATCH]


class _Node:
    """A container that can sit in a reference cycle and be watched by a weak reference."""

    def __init__(self) -> None:
        self.partner: _Node | None = None


@pytest.fixture
def survivors() -> Iterator[tuple[tuning.FrozenSurvivors, FakeClock]]:
    clock = FakeClock()
    policy = tuning.FrozenSurvivors(sweep_seconds=300, clock=clock)
    policy.install()
    try:
        yield policy, clock
    finally:
        policy.uninstall()
        gc.unfreeze()


def test_what_outlives_a_young_collection_is_frozen_out_of_later_collections(
    survivors: tuple[tuning.FrozenSurvivors, FakeClock],
) -> None:
    kept = [[index] for index in range(1000)]
    gc.collect(0)
    tracked = {id(obj) for generation in range(3) for obj in gc.get_objects(generation)}
    assert not any(id(obj) in tracked for obj in kept)
    assert gc.get_freeze_count() >= len(kept)


def test_a_cycle_that_dies_frozen_is_collected_by_the_sweep_once_it_is_due(
    survivors: tuple[tuning.FrozenSurvivors, FakeClock],
) -> None:
    policy, clock = survivors
    first, second = _Node(), _Node()
    first.partner, second.partner = second, first
    gc.collect(0)  # both alive: frozen
    watched = weakref.ref(first)
    del first, second
    gc.collect()
    assert watched() is not None, "a frozen cycle is out of the collector's reach"
    clock.advance(299)
    assert policy.sweep_if_due() is False
    assert watched() is not None
    clock.advance(1)
    assert policy.sweep_if_due() is True
    assert watched() is None
    assert policy.sweep_if_due() is False, "the next sweep is SWEEP_SECONDS later"


def test_without_install_there_is_no_freezing_and_no_sweep() -> None:
    clock = FakeClock()
    policy = tuning.FrozenSurvivors(sweep_seconds=1, clock=clock)
    frozen = gc.get_freeze_count()
    kept = [[index] for index in range(100)]
    gc.collect(0)
    clock.advance(5)
    assert policy.sweep_if_due() is False
    assert gc.get_freeze_count() == frozen
    assert kept
