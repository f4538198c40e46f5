"""An in-memory copy of the stored records, fed by a watch and by our own committed writes.

Pure: no I/O. Every entry carries the etcd revision that last changed it, so late or repeated
updates (a watch event for a write we already applied, a commit the watch already delivered)
can never move an entry backwards.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from netchecker_exporter.report import AgentRecord


@dataclass(frozen=True, slots=True)
class MirrorEntry:
    record: AgentRecord
    revision: int


@dataclass(frozen=True, slots=True)
class MirrorEvent:
    """One watched change: a record put (record set) or deleted (record None) at `revision`."""

    podname: str
    record: AgentRecord | None
    revision: int


class Mirror:
    """Thread-safe records by pod name, plus the revision up to which the watch has applied."""

    def __init__(self) -> None:
        self._entries: dict[str, MirrorEntry] = {}
        self._watched_revision = 0
        self._loaded = threading.Event()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    def wait_loaded(self, timeout_seconds: float) -> bool:
        return self._loaded.wait(timeout_seconds)

    @property
    def watched_revision(self) -> int:
        with self._lock:
            return self._watched_revision

    def entry(self, podname: str) -> MirrorEntry | None:
        with self._lock:
            return self._entries.get(podname)

    def count(self) -> int:
        with self._lock:
            return len(self._entries)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def records(self) -> dict[str, AgentRecord]:
        with self._lock:
            return {name: entry.record for name, entry in self._entries.items()}

    def is_newer(self, podname: str, revision: int) -> bool:
        """True if a change at `revision` would alter the entry (so it is worth decoding)."""
        with self._lock:
            current = self._entries.get(podname)
        return current is None or current.revision < revision

    def replace(self, entries: Mapping[str, MirrorEntry], revision: int) -> None:
        """Install a full listing taken at `revision`; keep our own commits made after it."""
        with self._lock:
            newer = {n: e for n, e in self._entries.items() if e.revision > revision}
            self._entries = {**entries, **newer}
            self._watched_revision = revision
        self._loaded.set()

    def apply_watched(self, events: Iterable[MirrorEvent], revision: int) -> None:
        """Apply watch events (in revision order); the watch has now seen up to `revision`."""
        with self._lock:
            for event in events:
                current = self._entries.get(event.podname)
                if current is not None and current.revision >= event.revision:
                    continue
                if event.record is None:
                    self._entries.pop(event.podname, None)
                else:
                    self._entries[event.podname] = MirrorEntry(event.record, event.revision)
            self._watched_revision = max(self._watched_revision, revision)

    def apply_committed(self, entries: Mapping[str, MirrorEntry]) -> None:
        """Apply our own committed writes now (read-your-writes) unless the watch got there first."""
        with self._lock:
            for name, entry in entries.items():
                current = self._entries.get(name)
                if entry.revision <= self._watched_revision:
                    continue  # the watch already applied this write or something later
                if current is None or current.revision < entry.revision:
                    self._entries[name] = entry


class OwnWrites:
    """The values our writer has in flight, so the watch can recognise its own writes undecoded.

    The watch of our prefix delivers every write we commit, often before the writer has applied
    the Txn's answer to the mirror. Decoding it would cost a JSON parse and a validation per
    report and put a second, equal record object in the mirror (which /metrics re-renders, since
    it compares records by identity). An event whose value is byte for byte the value in flight
    for that pod is that record, whoever wrote it: the watch takes the writer's record instead.
    One writer thread records and forgets; the watch thread only looks up (single dict operations).
    """

    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, AgentRecord]] = {}

    @contextlib.contextmanager
    def in_flight(self, writes: Sequence[tuple[str, bytes, AgentRecord]]) -> Iterator[None]:
        """Recognise these (pod, value, record) while the Txn is out; after it has been answered
        (and applied to the mirror) or abandoned, the watch decodes whatever it still sees."""
        for podname, value, record in writes:
            self._values[podname] = (value, record)
        try:
            yield
        finally:
            for podname, value, _ in writes:
                current = self._values.get(podname)
                if current is not None and current[0] is value:
                    self._values.pop(podname, None)

    def record_for(self, podname: str, value: bytes) -> AgentRecord | None:
        """Our record if `value` is the one in flight for `podname`, else None (decode it)."""
        current = self._values.get(podname)
        return current[1] if current is not None and current[0] == value else None

    def __len__(self) -> int:
        return len(self._values)
