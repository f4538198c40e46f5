"""Issue 23 at full size: what clients can make the front hold, with RSS and /healthz measured.

One exporter (memory store, default flags) with 10,000 agents stored, then in turn: a read flood
(16 clients looping over the heavy reads), 50 readers of /metrics at 1 KB/s, 1,000 half-sent 1 MB
bodies, 2,000 connections holding a 400 KB head, and 8,400 keep-alive connections that ping every
4 s. Through each, /healthz is asked on a new connection every 100 ms (as the kubelet does) and the
server's RSS sampled; agent POSTs on new connections are timed alongside the held connections.
With `--before REV` the same scenarios run first against that git revision's tree, so before and
after are measured in one run. Last, the CPU per report of a steady fleet against this tree and
against `--baseline` (a git revision), in one run.

`python -m bench.budgets` (about 5 minutes); `--baseline ''` leaves out the CPU comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import processes
from bench.fleet import FleetPlan, agent_requests, post_report, run_fleet
from bench.processes import Child
from bench.run import wait_for_reconcile_after
from bench.stats import rss_bytes, summarize
from tests.support.paths import REPO

AGENTS = 10_000
HOST = "127.0.0.1"
HEALTH_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
PING = b"GET /api/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n"
ATTACKER = "127.0.0.2"
"""The source address of the held bodies and heads; the agents' POSTs and the probes come from
127.0.0.1, as in a cluster where the attacker is not the agents' node."""
SOURCES = tuple(f"127.0.0.{i}" for i in range(2, 12))
"""The keep-alive attacker's source addresses: ten clients of 840 connections, each within its
-max-connections-per-client share, 8,400 together over -max-connections."""
HEAVY_PATHS = ("/metrics", "/api/v1/agents/", "/api/v1/diagnosis", "/api/v1/connectivity_check")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Status and body size of one response with a content-length, or read until closed."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
        return int(lines[0].split()[1]), int(headers["content-length"])
    size = 0
    while chunk := await reader.read(1 << 20):
        size += len(chunk)
    return int(lines[0].split()[1]), size


async def one_request(port: int, request: bytes, timeout: float) -> tuple[int, float]:
    """Status (0: none in time) and seconds of one request on a new connection."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(request)
            status, _ = await read_response(reader)
            writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return 0, time.monotonic() - started
    return status, time.monotonic() - started


def exchange(port: int, request: bytes, timeout: float) -> tuple[int, float]:
    """Status (0: none in time) and seconds of one request on a new connection, read until closed."""
    started = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as conn:
            conn.sendall(request)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        status = int(reply.split(b" ", 2)[1]) if reply else 0
    except (OSError, ValueError, IndexError):
        status = 0
    return status, time.monotonic() - started


def agent_posts(port: int, deadline: float, posts: list[tuple[int, float]]) -> None:
    """An agent's report on a new connection every 500 ms, 5 s to answer (the Go agent's timeout)."""
    request = agent_requests(HOST, port, 1, now=time.time())[0]
    while time.monotonic() < deadline:
        posts.append(exchange(port, request, 5.0))
        time.sleep(0.5)


def watch(port: int, pid: int, seconds: float, out: Connection) -> None:
    """In a process of its own (the attacker's loop must not delay it): /healthz on a new connection
    every 100 ms, as the kubelet asks, the server's RSS every 200 ms, and agent POSTs alongside."""
    health: list[tuple[int, float]] = []
    rss: list[int] = []
    posts: list[tuple[int, float]] = []
    deadline = time.monotonic() + seconds
    poster = threading.Thread(target=agent_posts, args=(port, deadline, posts), daemon=True)
    poster.start()
    next_rss = 0.0
    while time.monotonic() < deadline:
        started = time.monotonic()
        health.append(exchange(port, HEALTH_REQUEST, 3.0))
        if time.monotonic() >= next_rss:
            with contextlib.suppress(OSError):
                rss.append(rss_bytes(Path(f"/proc/{pid}/status").read_text()))
            next_rss = time.monotonic() + 0.2
        time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
    poster.join(timeout=10)
    out.send((health, rss, posts))
    out.close()


def watch_summary(
    health: list[tuple[int, float]], rss: list[int], posts: list[tuple[int, float]], rss_idle: int
) -> dict[str, Any]:
    answered = [seconds for status, seconds in health if status == 200]
    stored = [seconds for status, seconds in posts if status == 200]
    return {
        "agent_posts": len(posts),
        "agent_posts_ok": len(stored),
        "agent_post_seconds": asdict(summarize(stored)) if stored else None,
        "healthz_asked": len(health),
        "healthz_ok": len(answered),
        "healthz_seconds": asdict(summarize(answered)) if answered else None,
        "rss_idle_bytes": rss_idle,
        "rss_peak_bytes": max(rss, default=0),
    }


async def watched(server: Child, attack: Callable[[asyncio.Event], Coroutine[Any, Any, dict[str, Any]]],
                  seconds: float) -> dict[str, Any]:  # fmt: skip
    rss_idle, stop = server.rss_bytes(), asyncio.Event()
    receiving, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
    prober = multiprocessing.get_context("fork").Process(
        target=watch, args=(server.port, server.pid, seconds, sending), daemon=True
    )
    prober.start()
    attacking = asyncio.create_task(attack(stop))
    await asyncio.sleep(seconds)
    stop.set()
    result = await attacking
    health, rss, posts = await asyncio.to_thread(receiving.recv)
    prober.join(timeout=10)
    return {**watch_summary(health, rss, posts, rss_idle), **result}


def read_flood(port: int, clients: int) -> Callable[[asyncio.Event], Coroutine[Any, Any, dict[str, Any]]]:
    async def attack(stop: asyncio.Event) -> dict[str, Any]:
        statuses: dict[str, int] = {}

        async def client(path: str) -> None:
            request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            while not stop.is_set():
                status, _ = await one_request(port, request, 30.0)
                statuses[str(status)] = statuses.get(str(status), 0) + 1

        await asyncio.gather(*(client(HEAVY_PATHS[i % len(HEAVY_PATHS)]) for i in range(clients)))
        return {"reads": statuses}

    return attack


async def hold_connections(port: int, count: int, prefix: bytes, stop: asyncio.Event) -> dict[str, Any]:
    """`count` connections from ATTACKER that send `prefix` and hold; how the server treated them."""
    outcomes: dict[str, int] = {}

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection(HOST, port, local_addr=(ATTACKER, 0))
            writer.write(prefix)
            await writer.drain()
        except OSError as error:
            outcomes[type(error).__name__] = outcomes.get(type(error).__name__, 0) + 1
            return
        try:
            status, _ = await read_response(reader)
            outcome = str(status)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            outcome = "closed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        await stop.wait()
        writer.close()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await stop.wait()
    await asyncio.wait(tasks, timeout=5)
    return {"held": outcomes}


def half_sent_bodies(
    port: int, count: int, size: int
) -> Callable[[asyncio.Event], Coroutine[Any, Any, dict[str, Any]]]:
    head = (f"POST /api/v1/agents/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()  # fmt: skip
    return lambda stop: hold_connections(port, count, head + b" " * (size - 1), stop)


def held_heads(
    port: int, count: int, size: int
) -> Callable[[asyncio.Event], Coroutine[Any, Any, dict[str, Any]]]:
    head = b"GET /api/v1/ping HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * size
    return lambda stop: hold_connections(port, count, head, stop)


def keep_alive_pingers(
    port: int, count: int, every: float
) -> Callable[[asyncio.Event], Coroutine[Any, Any, dict[str, Any]]]:
    async def attack(stop: asyncio.Event) -> dict[str, Any]:
        outcomes: dict[str, int] = {}

        async def pinger(offset: float, source: str) -> None:
            await asyncio.sleep(offset)
            while not stop.is_set():
                try:
                    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
                except OSError:
                    outcomes["connect_failed"] = outcomes.get("connect_failed", 0) + 1
                    await asyncio.sleep(every)
                    continue
                with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    while not stop.is_set():  # the connection, kept alive, pinged every `every` s
                        writer.write(PING)
                        status, _ = await read_response(reader)
                        outcomes[str(status)] = outcomes.get(str(status), 0) + 1
                        await asyncio.sleep(every)
                outcomes["reconnects"] = outcomes.get("reconnects", 0) + 1
                writer.close()
                await asyncio.sleep(every)  # a keep-alive client opens a new one for its next ping

        tasks = [
            asyncio.create_task(pinger(every * i / count, SOURCES[i % len(SOURCES)])) for i in range(count)
        ]
        await stop.wait()
        await asyncio.wait(tasks, timeout=10)
        return {"pings": outcomes}

    return attack


SLOW_READ_BYTES_PER_SECOND = 1024
SLOW_READER_RCVBUF_BYTES = 16 * 1024
"""A small receive window, so the kernel takes little of the body off the server's hands."""


def slow_readers(port: int, count: int) -> Callable[[asyncio.Event], Coroutine[Any, Any, dict[str, Any]]]:
    """`count` readers of /metrics that take 1 KB a second; one refused (503) asks again 1 s later."""

    async def attack(stop: asyncio.Event) -> dict[str, Any]:
        outcomes: dict[str, int] = {}

        async def reader() -> None:
            while not stop.is_set():
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_READER_RCVBUF_BYTES)
                sock.setblocking(False)
                try:
                    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
                    reader_, writer = await asyncio.open_connection(sock=sock)
                except OSError:
                    outcomes["connect_failed"] = outcomes.get("connect_failed", 0) + 1
                    sock.close()
                    await asyncio.sleep(1)
                    continue
                status = await _read_slowly(reader_, writer, stop)
                outcomes[status] = outcomes.get(status, 0) + 1
                writer.close()
                if status != "200":
                    await asyncio.sleep(1)

        await asyncio.gather(*(reader() for _ in range(count)))
        return {"slow_reads": outcomes}

    return attack


async def _read_slowly(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event
) -> str:
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1].decode()
        if status != "200":
            return status
        while not stop.is_set():  # a reader still reading when the scenario ends counts as a 200
            if not await reader.read(SLOW_READ_BYTES_PER_SECOND):
                return "closed"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return status
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return "closed"


def store_agents(server: Child) -> None:
    """Every agent's report once, 64 at a time, then a reconcile pass that judged them."""
    requests = agent_requests(HOST, server.port, AGENTS, now=time.time())

    async def post_all() -> None:
        gate = asyncio.Semaphore(64)

        async def one(request: bytes) -> None:
            async with gate:
                await post_report(HOST, server.port, request, 10.0)

        await asyncio.gather(*(one(request) for request in requests))

    asyncio.run(post_all())
    wait_for_reconcile_after(server, time.time(), AGENTS, seconds=120)


def cpu_per_report(server: Child, seconds: float) -> dict[str, Any]:
    """Server CPU seconds per stored report of a paced fleet (10,000 agents every 20 s: 500/s)."""
    requests = agent_requests(HOST, server.port, AGENTS, now=time.time())
    plan = FleetPlan(server.port, AGENTS, interval_seconds=20.0, duration_seconds=seconds)
    before = server.cpu_seconds()
    result = asyncio.run(run_fleet(plan, requests.__getitem__))
    used = server.cpu_seconds() - before
    stored = result.statuses.get("200", 0)
    return {"statuses": dict(result.statuses), "server_cpu_seconds": used,
            "cpu_ms_per_report": 1000 * used / max(1, stored)}  # fmt: skip


def start_tree(tree: Path, cpu: int | None, log_dir: Path, *flags: str) -> Child:
    """The exporter of another checkout (`tree`), with this tree's interpreter and packages."""
    return processes.start_exporter(
        cpu, log_dir, *flags, name=f"exporter-{tree.name}", tree=tree, env={"PYTHONPATH": str(tree)}
    )


def cpu_comparison(revision: str, cpu: int | None, log_dir: Path, seconds: float) -> dict[str, Any]:
    """This tree and `revision`, alternately twice, each on a fresh server with the same fleet.

    The fleet's 10,000 agents all come from 127.0.0.1, so this tree runs with the per-client share
    at the cap: a loaded machine lets more than 1,024 of them wait at once, and those refusals
    would be left out of the CPU per report."""
    runs: dict[str, list[dict[str, Any]]] = {"this_tree": [], "baseline": []}
    with baseline_tree(revision) as tree:
        starts: dict[str, Callable[[], Child]] = {
            "this_tree": lambda: processes.start_exporter(
                cpu, log_dir, "-check-interval=10", "-max-connections-per-client=8192"
            ),
            "baseline": lambda: start_tree(tree, cpu, log_dir, "-check-interval=10"),
        }
        for _ in range(2):
            for name, start in starts.items():
                server = start()
                try:
                    runs[name].append(cpu_per_report(server, seconds))
                finally:
                    server.stop()
    return {"revision": revision, **runs}


def run(args: argparse.Namespace) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-budgets-"))
    results: dict[str, Any] = {"log_dir": str(log_dir), "load_average_at_start": os.getloadavg()}
    if args.before:
        with baseline_tree(args.before) as tree:
            before = functools.partial(start_tree, tree, args.server_cpu, log_dir, "-check-interval=10")
            results["before"] = {"revision": args.before, **attacks(before, args.seconds)}
    this_tree = functools.partial(processes.start_exporter, args.server_cpu, log_dir, "-check-interval=10")
    results["this_tree"] = attacks(this_tree, args.seconds)
    if args.baseline:
        results["cpu"] = cpu_comparison(args.baseline, args.server_cpu, log_dir, args.fleet_seconds)
    results["load_average_at_end"] = os.getloadavg()
    return results


def attacks(start: Callable[[], Child], seconds: float) -> dict[str, Any]:
    """Every scenario in turn against one server of 10,000 agents, and the refusals it counted."""
    results: dict[str, Any] = {}
    server = start()
    try:
        store_agents(server)
        port = server.port
        scenarios = {
            "read_flood": read_flood(port, 16),
            "slow_readers": slow_readers(port, 50),
            "half_sent_bodies": half_sent_bodies(port, 1000, 1 << 20),
            "held_heads": held_heads(port, 2000, 400_000),
            "keep_alive_pingers": keep_alive_pingers(port, 8400, 4.0),
        }
        for name, attack in scenarios.items():
            results[name] = asyncio.run(watched(server, attack, seconds))
            print(f"bench.budgets: {name}: {json.dumps(results[name])}", file=sys.stderr)
            time.sleep(6)  # the idle timeout: connections from the scenario are gone
        results["refusals"] = refusal_counts(server)
    finally:
        server.stop()
    return results


@contextlib.contextmanager
def baseline_tree(revision: str) -> Iterator[Path]:
    """A checkout of `revision` in a temporary directory (git archive: no worktree of ours touched)."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as directory:
        tree = Path(directory) / "baseline"
        tree.mkdir()
        archive = subprocess.run(["git", "archive", revision], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        yield tree


def refusal_counts(server: Child) -> dict[str, float]:
    text = processes.http_get(server.port, "/metrics", timeout=30)[1].decode()
    prefix = 'netchecker_http_refused_total{budget="'
    return {line[len(prefix):].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(prefix)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per scenario (at most 120)")
    parser.add_argument("--fleet-seconds", type=float, default=20.0, help="seconds of each CPU fleet")
    parser.add_argument("--baseline", default="e8e2866", help="git revision to compare CPU with ('' skips)")
    parser.add_argument("--before", default="", help="git revision whose tree the scenarios run on first")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args(argv)
    args.seconds = min(args.seconds, 120.0)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 8,400 client connections
    os.sched_setaffinity(0, {args.client_cpu})
    json.dump(run(args), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
