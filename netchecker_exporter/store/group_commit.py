"""Group commit: one writer thread turns concurrent submissions into batches.

Callers block until the batch holding their item is committed (or failed), so a caller that
returns has a durable write. While one batch is being committed the next one fills up, which
is what makes batches grow with load and stay small (low latency) when idle. Under load a batch
may also linger a moment for the callers about to arrive (docs/performance.md, issue 19).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from netchecker_exporter.errors import StoreBusyError, StoreUnavailableError

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")

CommitFunction = Callable[[Sequence[Item], float], Sequence[Result | Exception]]
"""commit(items, monotonic_deadline) -> one result or exception per item, in order."""


class _Unsettled:
    """The outcome of an item nobody has settled yet (a Result may be any value, None included)."""


UNSETTLED = _Unsettled()


class _Pending(Generic[Item, Result]):
    """One submitted item and the answer its caller waits for.

    Not a concurrent.futures.Future: its Condition costs a lock allocation, an RLock and a
    notify_all per report. A plain lock, taken at creation and released once by whoever settles
    the item, is the cheapest wake-up Python has: one release there, one acquire in the caller.
    """

    __slots__ = ("_done", "_outcome", "deadline", "item")

    def __init__(self, item: Item, deadline: float) -> None:
        self.item = item
        self.deadline = deadline
        self._outcome: Result | BaseException | _Unsettled = UNSETTLED
        self._done = threading.Lock()
        self._done.acquire()

    def settle(self, outcome: Result | BaseException) -> None:
        """The first outcome wins; a later one (close() failing what a batch answered) is dropped."""
        if self._outcome is not UNSETTLED:
            return
        self._outcome = outcome
        try:  # noqa: SIM105 (one report each: no contextlib.suppress object per report)
            self._done.release()
        except RuntimeError:  # settled by another thread at the same moment: it woke the caller
            pass

    def wait(self, timeout_seconds: float) -> Result | BaseException | _Unsettled:
        """The outcome, or UNSETTLED if nobody settled the item within `timeout_seconds`."""
        if not self._done.acquire(timeout=max(0.0, timeout_seconds)):
            return UNSETTLED
        return self._outcome


@dataclass(frozen=True, slots=True)
class Linger:
    """How long a batch waits for more items, and only after a batch of at least `after_items`.

    A commit with a fixed cost (an etcd Txn) is cheaper per item in bigger batches; waiting only
    when the previous batch was big keeps an idle writer answering at once (PostgreSQL's
    commit_delay with commit_siblings, with the last batch standing in for the active siblings).
    """

    seconds: float = 0.0
    after_items: int = 1


NO_LINGER = Linger()


@dataclass(frozen=True, slots=True)
class GroupCommitStats:
    batches: int
    items: int
    largest_batch: int


class GroupCommitter(Generic[Item, Result]):
    """Feeds submitted items, up to `max_items` at a time, to `commit` on one writer thread."""

    def __init__(
        self,
        commit: CommitFunction[Item, Result],
        *,
        max_items: int,
        name: str,
        max_pending: int = 2**31,
        linger: Linger = NO_LINGER,
    ) -> None:
        self._commit = commit
        self._max_items = max_items
        self._linger = linger
        self._last_batch = 0
        self._max_pending = max_pending
        # Admission: a caller that would be one too many is refused at once instead of holding
        # a request thread for a full deadline, so health endpoints always find a free thread.
        self._pending = threading.BoundedSemaphore(max_pending)
        self._queue: queue.SimpleQueue[_Pending[Item, Result] | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._stats_lock = threading.Lock()
        self._batches = self._items = self._largest = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Item, timeout_seconds: float) -> Result:
        """Commit `item` with the next batch; raise StoreUnavailableError if that fails or times out."""
        if self._closed.is_set():
            raise StoreUnavailableError("the store is closed")
        if not self._pending.acquire(blocking=False):
            raise StoreBusyError(f"{self._max_pending} reports wait on the store (-max-pending-writes)")
        try:
            return self._wait(item, timeout_seconds)
        finally:
            self._pending.release()

    def _wait(self, item: Item, timeout_seconds: float) -> Result:
        pending: _Pending[Item, Result] = _Pending(item, time.monotonic() + timeout_seconds)
        self._queue.put(pending)
        # The writer fails items past their deadline; the slack only covers its bookkeeping.
        outcome = pending.wait(timeout_seconds + 0.5)
        if isinstance(outcome, _Unsettled):
            raise StoreUnavailableError(f"the write was not confirmed within {timeout_seconds:g} s")
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def stats(self) -> GroupCommitStats:
        with self._stats_lock:
            return GroupCommitStats(self._batches, self._items, self._largest)

    def close(self) -> None:
        """Stop the writer after its current batch; fail whatever is still queued. Idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._fail(self._drain(), StoreUnavailableError("the store is closed"))

    def _run(self) -> None:
        while not self._closed.is_set():
            batch = self._next_batch()
            if batch:
                self._commit_batch(batch)

    def _next_batch(self) -> list[_Pending[Item, Result]]:
        first = self._queue.get()
        if first is None:
            return []
        batch = [first]
        closing = self._take_queued(batch)
        if not closing and self._lingers(len(batch)):
            # one sleep, then one sweep: no wake-up of the writer per arriving item
            time.sleep(self._linger.seconds)
            self._take_queued(batch)
        self._last_batch = len(batch)
        return batch

    def _lingers(self, size: int) -> bool:
        linger = self._linger
        return linger.seconds > 0 and self._last_batch >= linger.after_items and size < self._max_items

    def _take_queued(self, batch: list[_Pending[Item, Result]]) -> bool:
        """Move what is queued into `batch`, up to max_items; True if close() is asking to stop."""
        while len(batch) < self._max_items:
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                return False
            if pending is None:
                return True
            batch.append(pending)
        return False

    def _commit_batch(self, batch: list[_Pending[Item, Result]]) -> None:
        now = time.monotonic()
        expired = [p for p in batch if p.deadline <= now]
        live = [p for p in batch if p.deadline > now]
        self._fail(expired, StoreUnavailableError("the write waited too long for its turn"))
        if not live:
            return
        try:
            results = self._commit([p.item for p in live], min(p.deadline for p in live))
        except StoreUnavailableError as error:
            self._fail(live, error)
            return
        except Exception as error:  # a bug: fail the callers loudly rather than leave them hanging
            log.exception("group commit failed unexpectedly")
            self._fail(live, error)
            return
        self._count(len(live))
        for pending, result in zip(live, results, strict=True):
            pending.settle(result)

    def _count(self, size: int) -> None:
        with self._stats_lock:
            self._batches += 1
            self._items += size
            self._largest = max(self._largest, size)

    def _drain(self) -> list[_Pending[Item, Result]]:
        drained: list[_Pending[Item, Result]] = []
        while True:
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                return drained
            if pending is not None:
                drained.append(pending)

    @staticmethod
    def _fail(batch: Sequence[_Pending[Item, Result]], error: Exception) -> None:
        for pending in batch:
            pending.settle(error)
