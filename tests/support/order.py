"""The order tests are handed out in: modules that wait on real processes first.

pytest-xdist hands each worker its next test as it finishes one, in collection order (its groups,
largest first, ahead of the rest). In file-name order the slow process suites (server_*,
shared_views_*, shutdown_*, store_etcd*) came last, so the run ended with one worker still on them
and the others idle. Handed out first, the quick tests fill in around them at the end instead.
Whole modules move, in their own order, so a module-scoped fixture is still set up once per worker.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

SLOW_MARKERS = frozenset({"process", "etcd"})
"""Tests with these marks wait on real processes: seconds each, where most tests take milliseconds."""


def slow_modules_first(items: Sequence[pytest.Item]) -> list[pytest.Item]:
    """`items` with the modules holding any SLOW_MARKERS test moved ahead; otherwise order kept."""
    slow_files = {item.path for item in items if SLOW_MARKERS & {mark.name for mark in item.iter_markers()}}
    return sorted(items, key=lambda item: item.path not in slow_files)
