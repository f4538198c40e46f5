"""Process tuning for 10,000 agents: rare cyclic GC, short GIL slices, glibc giving big blocks back."""

from __future__ import annotations

import gc
import platform
import sys
from pathlib import Path

import pytest

from netchecker_exporter import tuning
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
    """The real re-exec, by either way in: the process maps jemalloc and trims through its mallctl."""
    if tuning.ctypes.util.find_library("jemalloc") is None:
        pytest.fail("libjemalloc2 is not installed: `make test` installs it (scripts/ensure-debian-packages)")
    server = ExporterProcess(program=program)
    try:
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert "libjemalloc.so.2" in maps
    finally:
        server.stop()
