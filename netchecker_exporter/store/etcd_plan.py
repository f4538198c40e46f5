"""What a batch of reports writes: per pod, the chained records and the value to store.

Pure: no I/O. Two reports for one pod in one batch chain (the second carries on from the
first), and the value written is the last record, computed from the base the Txn compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from netchecker_exporter.report import AgentRecord, AgentReport, next_record, record_to_stored_json
from netchecker_exporter.store.mirror import MirrorEntry


@dataclass(frozen=True, slots=True)
class Put:
    report: AgentReport
    received_at: float


@dataclass(frozen=True, slots=True)
class Base:
    """The stored record a write builds on, and the key's mod revision (0: no key)."""

    record: AgentRecord | None
    revision: int

    @classmethod
    def of(cls, entry: MirrorEntry | None) -> Base:
        return cls(None, 0) if entry is None else cls(entry.record, entry.revision)


@dataclass(frozen=True, slots=True)
class PodWrite:
    podname: str
    base_revision: int
    value: bytes
    records: tuple[tuple[int, AgentRecord], ...]
    """(index of the put in the batch, the record it produced), in order."""


PodPuts = dict[str, list[tuple[int, Put]]]


def group_by_pod(puts: Sequence[Put]) -> PodPuts:
    """Puts by pod name, each pod's in arrival order, with their index in the batch."""
    pods: PodPuts = {}
    for index, put in enumerate(puts):
        pods.setdefault(put.report.podname, []).append((index, put))
    return pods


def plan_pod_write(podname: str, items: list[tuple[int, Put]], base: Base) -> PodWrite:
    record = base.record
    produced: list[tuple[int, AgentRecord]] = []
    for index, put in items:
        record = next_record(record, put.report, put.received_at)
        produced.append((index, record))
    _, last = produced[-1]  # a pod is in the batch because it has a put: items is never empty
    value = encode_stored(last)
    return PodWrite(podname, base.revision, value, tuple(produced))


def encode_stored(record: AgentRecord) -> bytes:
    """Compact UTF-8 JSON: ASCII escapes make an emoji 12 bytes instead of 4 (docs/budgets.md).
    json.loads reads both, so records written escaped still load. msgspec writes the bytes
    json.dumps(ensure_ascii=False, separators=(",", ":")) writes, in a tenth of the CPU; only a
    float in exponent form is spelt otherwise (0.00005, not 5e-05), and reads back the same."""
    return msgspec.json.encode(record_to_stored_json(record))


def split_by_value_bytes(writes: list[PodWrite], limit: int) -> list[list[PodWrite]]:
    """Consecutive groups whose values sum to at most `limit` bytes (a bigger write goes alone)."""
    groups: list[list[PodWrite]] = [[]]
    size = 0
    for write in writes:
        if groups[-1] and size + len(write.value) > limit:
            groups.append([])
            size = 0
        groups[-1].append(write)
        size += len(write.value)
    return groups
