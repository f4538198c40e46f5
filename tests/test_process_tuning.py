"""Process tuning for 10,000 agents: a rare cyclic GC, and glibc malloc giving big blocks back."""

from __future__ import annotations

import gc
import platform

import pytest

from netchecker_exporter import cli


def test_tune_gc_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        cli.tune_gc()
        assert gc.get_threshold() == cli.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_tune_malloc_sets_the_mmap_threshold_on_glibc() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert cli.tune_malloc() is True
