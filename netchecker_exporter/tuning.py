"""Process tuning for a busy single-process server: cyclic GC, the GIL switch interval, glibc malloc,
the threads' scheduling policy.

Each setting was measured under agent-shaped load (BENCHMARKS.md); cli.run applies them at start-up
(the allocator and the scheduling policy before it, in __main__).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
import time
from collections.abc import Callable, Mapping

GC_THRESHOLDS = (10_000, 20, 100)
"""Python's cyclic GC, made rare: with 10,000 stored records a full collection holds the GIL for
tens of milliseconds, and the defaults (700, 10, 10) ran one every few seconds under ingest
(BENCHMARKS.md: steady-fleet p99 60 ms -> 16 ms). Young cycles (bottle's request <-> environ)
are still collected by the first two generations."""

MALLOC_MMAP_THRESHOLD_BYTES = 256 * 1024
M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter number
MALLOC_ARENA_MAX = 2
M_ARENA_MAX = -8


def tune_malloc() -> bool:
    """glibc, where jemalloc is not preloaded (use_malloc_allocator): serve blocks over 256 KiB
    with mmap() always, so /metrics' big transient buffers go back to the system when freed.
    glibc otherwise raises that threshold to the largest block freed (up to 32 MiB) and keeps
    the memory: about 35 MiB more RSS at 10,000 agents (BENCHMARKS.md).

    And at most MALLOC_ARENA_MAX arenas: glibc gives each contending thread an arena of its own, up
    to 8 per core, and the 48 ingest threads used all 16 on two cores. After a flood of one-shot
    names expired, tracemalloc saw Python's live memory within 1.2 MiB of its pre-flood size while
    the 16 arenas kept their fragmented heaps (docs/performance.md#the-allocator). Python allocates
    under the GIL, so more arenas bought no parallelism. Call before the server's threads start.
    Returns False where there is no glibc mallopt (musl, macOS): nothing to tune there."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    arenas = bool(mallopt(M_ARENA_MAX, MALLOC_ARENA_MAX))
    return bool(mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES)) and arenas


SWITCH_INTERVAL_SECONDS = 0.001
"""How long a thread may hold the GIL while others wait (Python's default: 5 ms). The reconcile
pass and the /metrics render are CPU-bound; request threads, etcd's gRPC and watch threads need the
GIL after every blocking call, and with 5 ms slices each request queued behind the render for tens of
milliseconds (BENCHMARKS.md: etcd steady-fleet p99 182 ms -> 31 ms)."""


SWEEP_SECONDS = 300.0
"""How often FrozenSurvivors lets the collector look at everything again."""


class FrozenSurvivors:
    """Objects that outlive a young collection are frozen, so no collection walks them again; a
    sweep every SWEEP_SECONDS unfreezes and collects everything once.

    Under steady ingest nearly every survivor is a record, verdict or cached line that lives
    until its agent reports again, and generation 1 grew with them to about 20 x 10,000 objects:
    each of its collections held the GIL for 40-60 ms at 10,000 agents, the longest pauses the
    server had (docs/performance.md#the-cyclic-gc-under-steady-ingest-issue-19). Frozen, they are still
    freed by reference counting when replaced; only a reference cycle that dies after being
    frozen waits for the sweep (the server makes few: prometheus_client counts what the
    collector frees, 28 objects in 5,000 reports).
    """

    def __init__(
        self, sweep_seconds: float = SWEEP_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sweep_seconds = sweep_seconds
        self._clock = clock
        self._next_sweep = clock() + sweep_seconds
        self._installed = False

    def install(self) -> None:
        if not self._installed:
            gc.callbacks.append(self._after_collection)
            self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._after_collection)
            self._installed = False

    def _after_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 0:
            gc.freeze()

    def sweep_if_due(self) -> bool:
        """A full collection of everything, once SWEEP_SECONDS have passed (installed only);
        the reconcile thread calls it after a pass. True if it swept."""
        if not self._installed or self._clock() < self._next_sweep:
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._next_sweep = self._clock() + self._sweep_seconds
        return True


SCHED_BATCH_POLICY = 3
"""Linux's SCHED_BATCH, as /proc/PID/task/TID/stat's 41st field spells it (os.SCHED_BATCH)."""


def schedule_as_batch() -> bool:
    """Run the process's threads as SCHED_BATCH: a thread it wakes does not preempt it. Per report
    granian's thread wakes the ingest thread and the ingest thread wakes granian's tokio thread,
    each while holding the GIL; woken as normal threads on the same core, they ran at once, found
    the GIL held and switched back
    (docs/performance.md#fewer-wake-ups-per-report-one-ingest-thread-sched_batch). Call first at
    start-up: threads take their creator's policy, and exec keeps it. False where the OS has no
    such policy (the process runs as it was)."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or a sandbox that forbids it
        return False
    return True


def tune_interpreter() -> None:
    """Freeze what start-up built (modules, settings, clients: never garbage), raise the GC
    thresholds, and shorten the GIL switch interval."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


ALLOCATOR_ENV = "PYTHONMALLOC"
PRELOAD_ENV = "LD_PRELOAD"
JEMALLOC_CONF_ENV = "MALLOC_CONF"
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
"""jemalloc hands freed pages back by itself, from a thread of its own, a second after they are
free (its default waits 10 s, and only while something allocates)."""


def use_malloc_allocator() -> None:
    """Re-exec under PYTHONMALLOC=malloc, on jemalloc where it is installed (glibc systems only;
    unless the allocator was chosen already: PYTHONMALLOC set, or something preloaded).

    CPython's small-object allocator gives an arena back only when every object in it is gone; with
    agents reporting all along, their short-lived objects land in every arena, so after a flood of
    one-shot names expired RSS stays at twice its pre-flood level. glibc's malloc, with
    malloc_trim() after such a drop, did better, but it serves a small request from any free chunk
    of the right size, wherever it is: the steady fleet's new records land all over the pages the
    flood freed and pin them. jemalloc fills the oldest, lowest-addressed slabs first, so what stays
    alive packs into few pages and the rest drains (docs/performance.md#the-allocator: after/before
    of bench.flood 1.06x vs 1.32x on glibc). Call before importing anything big.
    """
    if ALLOCATOR_ENV in os.environ or _libc() is None:
        return
    environment = {**os.environ, ALLOCATOR_ENV: "malloc", **jemalloc_environment(os.environ)}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)


def jemalloc_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """LD_PRELOAD of jemalloc and its settings, or nothing: not installed, or a preload chosen."""
    name = None if PRELOAD_ENV in environ else ctypes.util.find_library("jemalloc")
    if name is None:
        return {}
    return {PRELOAD_ENV: name, JEMALLOC_CONF_ENV: environ.get(JEMALLOC_CONF_ENV, JEMALLOC_CONF)}


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


class MallocTrimmer:
    """Hands malloc's free pages back once `shrink` records went away since the last trim (a
    flood expiring): freed blocks inside glibc's heaps stay mapped until malloc_trim(0), and
    jemalloc's until its decay (a second) or a purge, which _trim() asks for; a few milliseconds,
    at most once a pass. And once more `settle` passes after the last
    such trim: the previous Snapshot, the last scraped /metrics bodies and the lines cache still
    held the expired records' memory when it ran, and let it go only in the passes that follow."""

    def __init__(self, *, shrink: int = 100, settle: int = 5) -> None:
        self._shrink = shrink
        self._settle = settle
        self._high = 0
        self._pending: int | None = None
        """Passes left until the follow-up trim, None when none is due."""

    def observe(self, records: int) -> bool:
        """Called after each pass with the number of stored records; True if it trimmed."""
        if self._high - records >= self._shrink:
            self._high = records
            self._pending = self._settle
            return _trim()
        self._high = max(self._high, records)
        if self._pending is None:
            return False
        self._pending -= 1
        if self._pending > 0:
            return False
        self._pending = None
        return _trim()


MALLCTL_ALL_ARENAS_PURGE = b"arena.4096.purge"
"""jemalloc's mallctl name that purges every arena (MALLCTL_ARENAS_ALL is 4096)."""


def _trim() -> bool:
    """Hand free pages back now: jemalloc's purge when it is the allocator, else glibc's trim."""
    mallctl = getattr(ctypes.CDLL(None), "mallctl", None)
    if mallctl is not None:
        return bool(mallctl(MALLCTL_ALL_ARENAS_PURGE, None, None, None, ctypes.c_size_t(0)) == 0)
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
