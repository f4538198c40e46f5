"""A paced fleet: N agents each reporting every T seconds, one new connection per report.

wrk cannot pace, so this is asyncio over raw sockets. Report k is due at start + k / rate
(agent k mod N), whatever happened to earlier ones; latency is measured from that due time, so a
slow server (or a late generator) cannot hide queueing (no coordinated omission). The time from
due to connect() is reported apart as the generator's own lag.

`python -m bench.fleet --port 8081 --agents 10000 --interval 10 --duration 60`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from bench.payload import agent_identity, load_fixtures, render_report, request_bytes
from bench.stats import LatencySummary, summarize

MAX_IN_FLIGHT = 4000
"""Reports outstanding at once; beyond this the generator counts 'client_saturated' and skips."""


@dataclass(frozen=True, slots=True)
class PostOutcome:
    status: int
    """HTTP status, or 0 when no response came (the error names why)."""
    error: str = ""


async def post_report(host: str, port: int, request: bytes, timeout_seconds: float) -> PostOutcome:
    """Send one report on a new connection and read the answer until the server closes."""
    try:
        async with asyncio.timeout(timeout_seconds):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(request)
                await writer.drain()
                response = await reader.read()
            finally:
                writer.close()
    except TimeoutError:
        return PostOutcome(0, "timeout")
    except OSError as error:
        return PostOutcome(0, type(error).__name__)
    return PostOutcome(parse_status(response))


def parse_status(response: bytes) -> int:
    """The status code of an HTTP/1.x response, 0 when there is none."""
    parts = response.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return 0
    return int(parts[1])


@dataclass
class FleetResult:
    agents: int
    interval_seconds: float
    planned: int
    elapsed_seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    client_cpu_seconds: float = 0.0

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")

    def summary(self) -> dict[str, object]:
        latency = summarize(self.latencies) if self.latencies else None
        lag = summarize(self.lags) if self.lags else None
        return {
            "agents": self.agents,
            "interval_seconds": self.interval_seconds,
            "planned": self.planned,
            "completed": self.completed,
            "rate_per_second": self.completed / max(self.elapsed_seconds, 1e-9),
            "errors": self.errors,
            "error_fraction": self.errors / max(1, self.planned),
            "statuses": dict(self.statuses),
            "latency_seconds": _as_dict(latency),
            "generator_lag_seconds": _as_dict(lag),
            "client_cpu_seconds": self.client_cpu_seconds,
            "client_cpu_fraction": self.client_cpu_seconds / max(self.elapsed_seconds, 1e-9),
        }


def _as_dict(summary: LatencySummary | None) -> dict[str, float] | None:
    return None if summary is None else {k: float(v) for k, v in asdict(summary).items()}


def due_offsets(agents: int, interval_seconds: float, reports: int) -> list[float]:
    """Seconds after the start at which each report is due: evenly spread, agent k mod N."""
    rate = agents / interval_seconds
    return [k / rate for k in range(reports)]


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """N agents each reporting every T seconds, for D seconds, to a loopback port."""

    port: int
    agents: int
    interval_seconds: float
    duration_seconds: float
    host: str = "127.0.0.1"


async def run_fleet(
    plan: FleetPlan, requests: Callable[[int], bytes], clock: Callable[[], float] = time.monotonic
) -> FleetResult:
    """Send agents * duration / interval reports on schedule; bounded in count and time."""
    host, port, agents, interval_seconds = plan.host, plan.port, plan.agents, plan.interval_seconds
    planned = int(agents * plan.duration_seconds / interval_seconds)
    result = FleetResult(agents, interval_seconds, planned)
    timeout = max(1.0, interval_seconds - 1)  # the Go agent's client timeout
    in_flight: set[asyncio.Task[None]] = set()
    cpu_before = _cpu_seconds()
    start = clock()

    async def one(k: int, due: float) -> None:
        result.lags.append(clock() - due)
        outcome = await post_report(host, port, requests(k % agents), timeout)
        result.latencies.append(clock() - due)
        result.statuses[str(outcome.status) if outcome.status else outcome.error] += 1

    for k, offset in enumerate(due_offsets(agents, interval_seconds, planned)):
        delay = start + offset - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= MAX_IN_FLIGHT:
            result.statuses["client_saturated"] += 1
            continue
        task = asyncio.create_task(one(k, start + offset))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=timeout + 1)
    result.elapsed_seconds = clock() - start
    result.client_cpu_seconds = _cpu_seconds() - cpu_before
    return result


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def agent_requests(host: str, port: int, agents: int, *, now: float) -> list[bytes]:
    """One pre-rendered request per agent (rendering per send would bill JSON to the client)."""
    fixtures = load_fixtures()
    requests = []
    for index in range(agents):
        identity = agent_identity(index)
        body = render_report(fixtures[identity.hostnet], identity, now=now, report_interval=10)
        requests.append(request_bytes(host, port, identity.pod, body))
    return requests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between an agent's reports")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds to run (at most 600)")
    args = parser.parse_args(argv)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("benchmark traffic goes to the loopback interface only")
    duration = min(args.duration, 600.0)
    requests = agent_requests(args.host, args.port, args.agents, now=time.time())
    plan = FleetPlan(args.port, args.agents, args.interval, duration, host=args.host)
    result = asyncio.run(run_fleet(plan, requests.__getitem__))
    json.dump(result.summary(), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
