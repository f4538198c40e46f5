"""Numbers from runs: percentiles, wrk's summary line, Prometheus samples, /proc figures."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WRK_RESULT_PREFIX = "WRK_RESULT "
"""bench/wrk_agents.lua prints its summary as one JSON object after this prefix."""


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (the smallest value with at least `fraction` of values at or below it)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    p50: float
    p90: float
    p99: float
    max: float


def summarize(values: Sequence[float]) -> LatencySummary:
    ordered = sorted(values)
    return LatencySummary(
        count=len(ordered),
        p50=percentile(ordered, 0.5),
        p90=percentile(ordered, 0.9),
        p99=percentile(ordered, 0.99),
        max=ordered[-1],
    )


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What wrk reports: requests completed, errors by kind, latency percentiles in seconds."""

    duration_seconds: float
    requests: int
    non_2xx: int
    socket_errors: int
    p50: float
    p90: float
    p99: float
    max: float

    @property
    def rate(self) -> float:
        return self.requests / self.duration_seconds

    @property
    def error_fraction(self) -> float:
        return (self.non_2xx + self.socket_errors) / max(1, self.requests + self.socket_errors)


def parse_wrk_output(text: str) -> WrkResult:
    """Find the summary that bench/wrk_agents.lua's done() printed in wrk's output."""
    line = next((x for x in text.splitlines() if x.startswith(WRK_RESULT_PREFIX)), None)
    if line is None:
        raise ValueError("wrk output has no WRK_RESULT line (did the Lua script run?)")
    data: dict[str, Any] = json.loads(line[len(WRK_RESULT_PREFIX) :])
    errors = data["errors"]
    micro = 1e-6
    return WrkResult(
        duration_seconds=data["duration_us"] * micro,
        requests=int(data["requests"]),
        non_2xx=int(errors["status"]),
        socket_errors=int(errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]),
        p50=data["latency_us"]["p50"] * micro,
        p90=data["latency_us"]["p90"] * micro,
        p99=data["latency_us"]["p99"] * micro,
        max=data["latency_us"]["max"] * micro,
    )


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?) (?P<value>\S+)")


def sample_value(exposition: str, name: str) -> float | None:
    """The value of the sample `name` (with its labels, if any) in Prometheus text format."""
    for line in exposition.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group("name") == name:
            return float(match.group("value"))
    return None


def count_samples(exposition: str) -> int:
    return sum(1 for line in exposition.splitlines() if line and not line.startswith("#"))


def rss_bytes(proc_status: str) -> int:
    """VmRSS from /proc/<pid>/status."""
    match = re.search(r"^VmRSS:\s+(\d+) kB", proc_status, re.MULTILINE)
    if match is None:
        raise ValueError("no VmRSS line in /proc status text")
    return int(match.group(1)) * 1024


def cpu_seconds(proc_stat: str, ticks_per_second: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat (fields 14 and 15, after the comm)."""
    fields = proc_stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second
