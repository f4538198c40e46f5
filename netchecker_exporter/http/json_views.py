"""GET /api/v1/agents/ and /api/v1/diagnosis, each rendered once per version of what it shows.

Rendering per request cost 8 MB per reader at 10,000 agents, and four parallel listings took the
server to 3 GB. Here the first reader of a version renders it; every reader, slow or not, is then
sent the same bytes (shared_body.py). The listing's version is its records' identities (stored
records are immutable and replaced whole, so a report makes a new version and nothing else
does); the diagnosis's is the Snapshot's Diagnosis object.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping

from prometheus_client import Counter

from netchecker_exporter.diagnosis.nodes import Diagnosis
from netchecker_exporter.diagnosis.to_json import diagnosis_to_json
from netchecker_exporter.http.shared_body import SharedBody
from netchecker_exporter.report import AgentRecord, record_to_json

log = logging.getLogger(__name__)

MAX_LOGGED_NAMES = 100_000
"""Names logged as unrenderable are remembered so each is logged once; a flood of them is forgotten."""


class AgentListing:
    """The agent list, `{podname: record}`: a record that cannot be rendered is left out, logged
    once and counted once per stored version, so one bad record (say, written into etcd by
    another version) never hides the others. Each record's JSON is kept until it changes."""

    def __init__(self, skipped: Counter) -> None:
        self._skipped = skipped
        self._logged: set[str] = set()
        self._fragments: dict[str, tuple[AgentRecord, bytes | None]] = {}
        self._current: tuple[dict[str, AgentRecord], SharedBody] | None = None
        self._lock = threading.Lock()

    def body(self, records: Mapping[str, AgentRecord]) -> SharedBody:
        """The listing of `records`, rendered now only if they differ from the last ones rendered."""
        with self._lock:  # concurrent first readers wait for one render rather than each rendering
            current = self._current
            if current is not None and _same_records(current[0], records):
                return current[1]
            self._current = None  # let the old body go before building the new one
            body = SharedBody((self._render(records),))
            self._current = (dict(records), body)
            return body

    def _render(self, records: Mapping[str, AgentRecord]) -> bytes:
        fragments: dict[str, tuple[AgentRecord, bytes | None]] = {}
        for name in sorted(records):
            record = records[name]
            cached = self._fragments.get(name)
            if cached is None or cached[0] is not record:
                cached = (record, self._fragment(name, record))
            fragments[name] = cached
        self._fragments = fragments  # departed agents vanish here
        return b"{" + b",".join(part for _, part in fragments.values() if part is not None) + b"}"

    def _fragment(self, name: str, record: AgentRecord) -> bytes | None:
        try:
            text = f"{json.dumps(name)}:{json.dumps(record_to_json(record), allow_nan=False)}"
        except (ValueError, TypeError, OverflowError, OSError) as error:
            self._skip(name, error)
            return None
        return text.encode()

    def _skip(self, name: str, error: Exception) -> None:
        self._skipped.inc()
        if name not in self._logged:
            if len(self._logged) >= MAX_LOGGED_NAMES:
                self._logged.clear()
            self._logged.add(name)
            log.warning("GET /api/v1/agents/: leaving out record %r: %s", name[:253], error)


def _same_records(rendered: Mapping[str, AgentRecord], records: Mapping[str, AgentRecord]) -> bool:
    """The same names bound to the very same record objects (O(agents), no rendering)."""
    if len(rendered) != len(records):
        return False
    return all(rendered.get(name) is record for name, record in records.items())


class DiagnosisView:
    """GET /api/v1/diagnosis (whole, and ?problems=1) of the current Diagnosis, rendered once each."""

    def __init__(self) -> None:
        self._current: tuple[Diagnosis, dict[bool, SharedBody]] | None = None
        self._lock = threading.Lock()

    def body(self, diagnosis: Diagnosis, *, problems_only: bool) -> SharedBody:
        with self._lock:
            if self._current is None or self._current[0] is not diagnosis:
                self._current = (diagnosis, {})
            bodies = self._current[1]
            if problems_only not in bodies:
                payload = diagnosis_to_json(diagnosis, problems_only=problems_only)
                bodies[problems_only] = SharedBody(("".join(json_in_slices(payload)).encode(),))
            return bodies[problems_only]


def json_in_slices(value: object) -> Iterator[str]:
    """json.dumps(value)'s text in pieces: each object's members and each list's items encoded by a
    call of their own. One json.dumps of a whole 10,000-node diagnosis holds the GIL for its full
    run (430 ms measured on a loaded core), and every thread, the event loop's /healthz included,
    waits for it; between calls the interpreter hands the GIL over (tuning.SWITCH_INTERVAL_SECONDS)."""
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        yield "{"
        for index, (key, member) in enumerate(value.items()):
            yield f"{', ' if index else ''}{json.dumps(key)}: "
            yield from json_in_slices(member)
        yield "}"
    elif isinstance(value, list | tuple) and value:
        yield "["
        for index, item in enumerate(value):
            yield f"{', ' if index else ''}{json.dumps(item)}"
        yield "]"
    else:
        yield json.dumps(value)
