"""/metrics at 10,000 agents: the Snapshot rendered once per pass and served from cached bytes.

The per-agent families (about 42 samples per agent) are written line by line here, because
prometheus_client builds a dict and a namedtuple per sample and took seconds per scrape. Names,
HELP and TYPE still come from collector.py's families; tests/test_exposition.py holds the output
byte-identical to prometheus_client's encoders over SnapshotCollector, in both formats.
"""

from __future__ import annotations

import bisect
import functools
import io
import itertools
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from netchecker_exporter.check import AgentStatus, AgentVerdict
from netchecker_exporter.collector import (
    agent_families,
    cluster_families,
    health_families,
    legacy_families,
    newest_by_legacy_agent,
    probe_families,
)
from netchecker_exporter.report import PROBE_PHASES
from netchecker_exporter.snapshot import Snapshot

GZIP_WBITS = 31  # zlib: gzip header and trailer
GZIP_LEVEL = 1  # loopback and LAN scrapes: speed over ratio


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def encode(families: Iterable[Metric], *, open_metrics: bool) -> str:
    """prometheus_client's own encoding of `families` (OpenMetrics without its `# EOF`)."""
    collector = _Families(families)
    if open_metrics:
        # untyped upstream (prometheus_client's openmetrics module)
        data: bytes = openmetrics.generate_latest(collector)  # type: ignore[no-untyped-call]
        return data.decode().removesuffix("# EOF\n")
    return generate_latest(collector).decode()


def _headers(families: Iterable[Metric], open_metrics: bool) -> list[str]:
    """HELP and TYPE lines of each family, from families with no samples."""
    return [encode([family], open_metrics=open_metrics) for family in families]


def escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def go_float(value: float) -> str:
    """A sample value as Go (and prometheus_client) prints it."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


_SMALL_INTEGERS = {n: go_float(n) for n in range(1000)}


def number(value: float) -> str:
    text = _SMALL_INTEGERS.get(value) if isinstance(value, int) else None
    return text if text is not None else go_float(value)


def legacy_lines(verdicts: Iterable[AgentVerdict]) -> list[list[str]]:
    """ncagent_*: reports, errors, connection result, code, then the six phases (collector order)."""
    reports: list[str] = []
    errors: list[str] = []
    connection: list[str] = []
    code: list[str] = []
    phases: dict[str, list[str]] = {phase: [] for phase, _ in PROBE_PHASES}
    for agent, verdict in sorted(newest_by_legacy_agent(verdicts).items()):
        assert verdict.record is not None
        label = f'{{agent="{escape(agent)}"}} '
        reports.append(f"ncagent_report_count_total{label}{number(verdict.record.report_count)}\n")
        errors.append(f"ncagent_error_count_total{label}{number(verdict.missed_keepalives)}\n")
        for probe in verdict.record.report.network_probes:
            labels = f'{{agent="{escape(agent)}",url="{escape(probe.url)}"}} '
            connection.append(
                f"ncagent_http_probe_connection_result{labels}{number(probe.connection_result)}\n"
            )
            code.append(f"ncagent_http_probe_code{labels}{number(probe.http_code)}\n")
            for phase, milliseconds in probe.phase_ms:
                if milliseconds is None:  # not timed by the agent: no sample
                    continue
                line = f"ncagent_http_probe_{phase}_time_ms{labels}{number(milliseconds)}\n"
                phases[phase].append(line)
    return [reports, errors, connection, code, *phases.values()]


def _agent_label_parts(verdict: AgentVerdict) -> tuple[str, str]:
    """`namespace,network,node` and `pod`, escaped, in prometheus_client's (sorted) label order."""
    pod = verdict.pod
    namespace, network, node = escape(pod.namespace), escape(pod.network.value), escape(verdict.node)
    return f'namespace="{namespace}",network="{network}",node="{node}"', f'pod="{escape(pod.name)}"'


def agent_lines(verdicts: Iterable[AgentVerdict]) -> list[list[str]]:
    status: list[str] = []
    age: list[str] = []
    interval: list[str] = []
    reports: list[str] = []
    missed: list[str] = []
    for verdict in verdicts:
        head, pod = _agent_label_parts(verdict)
        for state in AgentStatus:
            value = "1.0" if verdict.status is state else "0.0"
            status.append(f'netchecker_agent_status{{{head},{pod},status="{state.value}"}} {value}\n')
        if verdict.record is not None and verdict.report_age_seconds is not None:
            labels = f"{{{head},{pod}}} "
            age.append(f"netchecker_agent_report_age_seconds{labels}{number(verdict.report_age_seconds)}\n")
            interval.append(
                f"netchecker_agent_report_interval_seconds{labels}{number(verdict.record.report.report_interval)}\n"
            )
            reports.append(f"netchecker_agent_reports_total{labels}{number(verdict.record.report_count)}\n")
            missed.append(
                f"netchecker_agent_missed_keepalives_total{labels}{number(verdict.missed_keepalives)}\n"
            )
    return [status, age, interval, reports, missed]


def probe_lines(verdicts: Iterable[AgentVerdict]) -> list[list[str]]:
    success: list[str] = []
    code: list[str] = []
    duration: list[str] = []
    for verdict in verdicts:
        if verdict.record is None:
            continue
        head, pod = _agent_label_parts(verdict)
        for probe in verdict.record.report.network_probes:
            tail = f'{pod},url="{escape(probe.url)}"'
            success.append(
                f"netchecker_agent_probe_success{{{head},{tail}}} {'1.0' if probe.succeeded else '0.0'}\n"
            )
            code.append(
                f"netchecker_agent_probe_http_status_code{{{head},{tail}}} {number(probe.http_code)}\n"
            )
            for phase, milliseconds in probe.phase_ms:
                if milliseconds is None:  # not timed by the agent: no sample
                    continue
                duration.append(
                    f'netchecker_agent_probe_duration_seconds{{{head},phase="{phase}",{tail}}} '
                    f"{go_float(milliseconds / 1000)}\n"
                )
    return [success, code, duration]


def _chunks(headers: Sequence[bytes], samples: Sequence[list[str]]) -> Iterator[bytes]:
    for header, lines in zip(headers, samples, strict=True):
        yield header
        yield "".join(lines).encode()


@functools.cache
def family_headers(open_metrics: bool) -> tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...]]:
    """HELP and TYPE of the legacy, agent and probe families: they never change."""
    return tuple(  # type: ignore[return-value]
        tuple(header.encode() for header in _headers(families(()), open_metrics))
        for families in (legacy_families, agent_families, probe_families)
    )


@dataclass(frozen=True, slots=True)
class RenderedSnapshot:
    """A Snapshot's exposition as chunks; both formats share the big sample chunks."""

    snapshot: Snapshot
    text: tuple[bytes, ...]
    open_metrics: tuple[bytes, ...]

    def chunks(self, open_metrics: bool) -> tuple[bytes, ...]:
        return self.open_metrics if open_metrics else self.text


def _encoded(families: list[list[str]]) -> list[bytes]:
    """Each family's lines as one bytes chunk, dropping the lines as it goes (peak memory)."""
    chunks = []
    families.reverse()
    while families:
        chunks.append("".join(families.pop()).encode())
    return chunks


def render_chunks(snapshot: Snapshot, version: str) -> RenderedSnapshot:
    """Render each family once (the sample lines are the same in both formats)."""
    verdicts = snapshot.verdicts
    bodies = [_encoded(lines_of(verdicts)) for lines_of in (legacy_lines, agent_lines, probe_lines)]

    def assemble(open_metrics: bool) -> tuple[bytes, ...]:
        legacy, agent, probe = family_headers(open_metrics)

        def group(headers: tuple[bytes, ...], chunks: list[bytes]) -> list[bytes]:
            return [part for pair in zip(headers, chunks, strict=True) for part in pair]

        return (
            *group(legacy, bodies[0]),
            encode(cluster_families(verdicts), open_metrics=open_metrics).encode(),
            *group(agent, bodies[1]),
            *group(probe, bodies[2]),
            encode(health_families(snapshot, version), open_metrics=open_metrics).encode(),
        )

    return RenderedSnapshot(snapshot, assemble(False), assemble(True))


def render_snapshot(snapshot: Snapshot, version: str, *, open_metrics: bool) -> bytes:
    """The same bytes prometheus_client would write for SnapshotCollector, much faster."""
    return b"".join(render_chunks(snapshot, version).chunks(open_metrics))


class ChunkFile(io.RawIOBase):
    """A read-only, seekable file over byte chunks: the HTTP front streams it in blocks, never joined."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = [memoryview(chunk) for chunk in chunks if chunk]
        self._starts = list(itertools.accumulate((len(c) for c in self._chunks), initial=0))
        self._size = self._starts[-1]
        self._position = 0

    def close(self) -> None:
        """Let the chunks go: a server thread may keep its last response (and so this file) until
        its next request, which pinned up to one old render per thread (200 MB after a flood)."""
        self._chunks = []
        super().close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = min(max(0, base + offset), self._size)
        return self._position

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        written = 0
        while written < len(target) and self._position < self._size:
            index = bisect.bisect_right(self._starts, self._position) - 1
            chunk = self._chunks[index]
            offset = self._position - self._starts[index]
            count = min(len(target) - written, len(chunk) - offset)
            target[written : written + count] = chunk[offset : offset + count]
            written += count
            self._position += count
        return written


@dataclass(frozen=True, slots=True)
class _Gzipped:
    prefix: bytes
    state: Any
    """zlib's compressor after the snapshot's chunks; each scrape continues a copy of it."""


class MetricsExposition:
    """Serves /metrics: the current Snapshot's cached chunks plus the small registry."""

    def __init__(
        self, snapshot: Callable[[], Snapshot], registry: CollectorRegistry, *, version: str
    ) -> None:
        self._snapshot = snapshot
        self._registry = registry
        self._version = version
        self._rendered: RenderedSnapshot | None = None
        self._gzipped: dict[bool, _Gzipped] = {}
        self._gzip_wanted: set[bool] = set()
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Render the current Snapshot (and the gzip streams scrapers asked for) ahead of scrapes."""
        self._current()
        for open_metrics in sorted(self._gzip_wanted):
            self._current_gzipped(open_metrics)

    def render(self, accept: str, accept_encoding: str) -> tuple[io.RawIOBase | bytes, dict[str, str]]:
        """The body (a file over cached chunks, or gzip bytes) and headers for one scrape."""
        encoder, content_type = choose_encoder(accept)
        open_metrics = content_type.startswith("application/openmetrics-text")
        tail = encoder(self._registry)  # the small rest: process, GC, ingest counter (and `# EOF`)
        headers = {"Content-Type": content_type}
        if "gzip" not in accept_encoding:
            return ChunkFile([*self._current().chunks(open_metrics), tail]), headers
        self._gzip_wanted.add(open_metrics)
        gzipped = self._current_gzipped(open_metrics)
        compressor = gzipped.state.copy()
        body = gzipped.prefix + compressor.compress(tail) + compressor.flush()
        return body, {**headers, "Content-Encoding": "gzip"}

    def _current(self) -> RenderedSnapshot:
        snapshot = self._snapshot()
        with self._lock:
            if self._rendered is None or self._rendered.snapshot is not snapshot:
                self._rendered = None  # let the old chunks go before rendering anew
                self._gzipped.clear()
                self._rendered = render_chunks(snapshot, self._version)
            return self._rendered

    def _current_gzipped(self, open_metrics: bool) -> _Gzipped:
        rendered = self._current()
        with self._lock:
            gzipped = self._gzipped.get(open_metrics)
            if gzipped is None or self._rendered is not rendered:
                compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS)
                prefix = b"".join(compressor.compress(chunk) for chunk in rendered.chunks(open_metrics))
                gzipped = _Gzipped(prefix, compressor)
                if self._rendered is rendered:
                    self._gzipped[open_metrics] = gzipped
            return gzipped
