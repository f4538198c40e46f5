"""The slow-client attack: trickling heads, trickling bodies and idle connections from one client,
while agents, kubelet (/healthz) and Prometheus (/metrics) keep asking on connections of their own.

The attacker keeps `--trickle` connections sending one byte every `--every` seconds (half still in
the request head, half in a body that claims 3,700 bytes) and `--idle` connections that send
nothing; a connection the server drops is opened again at once. Probes run from the first second;
their latency is connect to last byte. Bounded: it stops after `--duration` seconds.
`python -m bench.slow_clients --port 8081 --trickle 1500 --idle 1000 --duration 20`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict

from bench.fleet import PostOutcome, post_report
from bench.payload import agent_identity, load_fixtures, render_report, request_bytes
from bench.stats import summarize

HOST = "127.0.0.1"
HEAD_TRICKLE = b"POST /api/v1/agents/slow HTTP/1.1\r\nHost: x\r\n" + b"X-Trickle: 1\r\n" * 200
BODY_HEAD = b"POST /api/v1/agents/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
BODY_HEAD += b"Content-Length: 3700\r\n\r\n{"
PROBE_TIMEOUT_SECONDS = 5.0


async def hold(port: int, prefix: bytes, every: float, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """One attacker slot: connect, send `prefix` then a byte per `every` s; reconnect when dropped."""
    while not stop.is_set():
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            counts["connect_failures"] += 1
            await asyncio.sleep(0.1)
            continue
        counts["connections"] += 1
        with contextlib.suppress(OSError):
            await _trickle(writer, prefix, every, stop)
        counts["dropped"] += 0 if stop.is_set() else 1
        writer.close()


async def _trickle(writer: asyncio.StreamWriter, prefix: bytes, every: float, stop: asyncio.Event) -> None:
    sent = 0
    while not stop.is_set():
        if prefix:
            writer.write(prefix[sent : sent + 1] or b" ")
            await writer.drain()
            sent += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if writer.transport.is_closing():
            return


async def get(port: int, path: str) -> PostOutcome:
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
    return await post_report(HOST, port, request, PROBE_TIMEOUT_SECONDS)  # any request, one connection


async def probe_loop(
    port: int, kind: str, stop: asyncio.Event, samples: list[tuple[float, float, int]]
) -> None:
    """Every 50 ms one request of `kind` (post, healthz, metrics): (start offset, seconds, status)."""
    fixtures, started, index = load_fixtures(), time.monotonic(), 0
    while not stop.is_set():
        begun = time.monotonic()
        if kind == "post":
            identity = agent_identity(index)
            body = render_report(fixtures[identity.hostnet], identity, now=time.time())
            outcome = await post_report(
                HOST, port, request_bytes(HOST, port, identity.pod, body), PROBE_TIMEOUT_SECONDS
            )
        else:
            outcome = await get(port, f"/{kind}")
        samples.append((begun - started, time.monotonic() - begun, outcome.status))
        index += 1
        await asyncio.sleep(max(0.0, 0.05 - (time.monotonic() - begun)))


def summary(samples: list[tuple[float, float, int]]) -> dict[str, object]:
    seconds = [s for _, s, _ in samples]
    first = [s for at, s, _ in samples if at < 1.0]
    return {
        "requests": len(samples),
        "failed": sum(1 for _, _, status in samples if status != 200),
        "latency_seconds": asdict(summarize(seconds)) if seconds else None,
        "first_second_max_seconds": max(first) if first else None,
    }


async def attack(port: int, trickle: int, idle: int, every: float, duration: float) -> dict[str, object]:
    stop = asyncio.Event()
    counts = {"connections": 0, "dropped": 0, "connect_failures": 0}
    half = trickle // 2
    slots = [hold(port, HEAD_TRICKLE, every, stop, counts) for _ in range(half)]
    slots += [hold(port, BODY_HEAD, every, stop, counts) for _ in range(trickle - half)]
    slots += [hold(port, b"", every, stop, counts) for _ in range(idle)]
    attackers = [asyncio.create_task(slot) for slot in slots]
    await asyncio.sleep(1.0)  # let the attack take hold before the first probe
    samples: dict[str, list[tuple[float, float, int]]] = {"post": [], "healthz": [], "metrics": []}
    probes = [asyncio.create_task(probe_loop(port, kind, stop, s)) for kind, s in samples.items()]
    await asyncio.sleep(duration)
    stop.set()
    await asyncio.gather(*probes, *attackers, return_exceptions=True)
    return {
        "trickle": trickle, "idle": idle, "every_seconds": every, "duration_seconds": duration,
        "attacker": counts, **{kind: summary(s) for kind, s in samples.items()},
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--trickle", type=int, default=1500)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between a trickler's bytes")
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * (args.trickle + args.idle) + 256)), hard)
    )
    duration = min(args.duration, 300.0)
    result = asyncio.run(
        attack(args.port, min(args.trickle, 5000), min(args.idle, 5000), args.every, duration)
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
