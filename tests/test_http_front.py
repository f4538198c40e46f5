"""The HTTP front on real sockets: body limits before reading, bounded receive times, slow clients.

In-process fronts (GranianFront on a thread, short timeouts) for the bounds; a real exporter
process for the slow-client attack, as the agents and kubelet would see it.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from netchecker_exporter.http.front import FrontSettings, GranianFront
from tests.support.exporter import ExporterProcess
from tests.support.paths import REPO, fixture_paths
from tests.support.polling import wait_until
from tests.support.ports import free_port

pytestmark = [pytest.mark.process]

LIMIT = 4096


def echo_length_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Refuses declared bodies over LIMIT unread (as api.read_report_body does), else echoes the size."""
    declared = int(environ.get("CONTENT_LENGTH") or 0)
    if declared > LIMIT:
        start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
        return [b"too large"]
    body = environ["wsgi.input"].read(declared)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


@pytest.fixture(params=[0, 4], ids=["inline", "threads"])
def front(request: pytest.FixtureRequest) -> Iterator[int]:
    settings = FrontSettings(
        "127.0.0.1", free_port(), LIMIT, ingest_threads=request.param,
        header_read_timeout_seconds=1, body_read_timeout_seconds=1,
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=GranianFront(echo_length_app, settings).serve_until, args=(stop,))
    thread.start()
    wait_until(lambda: socket.create_connection(("127.0.0.1", settings.port)).close() or True, 10,
               "the front to listen", ignoring=(OSError,))  # fmt: skip
    yield settings.port
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def exchange(port: int, data: bytes, *, timeout: float = 5) -> bytes:
    """Send `data`, then read until the server closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        return read_all(conn)


def read_all(conn: socket.socket) -> bytes:
    reply = b""
    while chunk := conn.recv(65536):
        reply += chunk
    return reply


def test_a_body_within_the_limit_reaches_the_app(front: int) -> None:
    reply = exchange(
        front, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"\r\n\r\n5"), reply


def test_a_declared_body_over_the_limit_is_refused_before_a_byte_of_it_is_sent(front: int) -> None:
    head = f"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT * 100}\r\n\r\n".encode()
    started = time.monotonic()
    reply = exchange(front, head)  # no body follows: an answer proves it was not waited for
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert time.monotonic() - started < 0.9  # sooner than the 1 s body timeout would answer


def test_a_chunked_body_over_the_limit_is_refused_after_limit_plus_one_bytes(front: int) -> None:
    chunk = b"x" * 1024
    head = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(b"400\r\n" + chunk + b"\r\n" for _ in range(8))  # 8 KiB of chunks, no end
    reply = exchange(front, head + body)
    assert reply.startswith(b"HTTP/1.1 413"), reply


def test_a_chunked_body_within_the_limit_reaches_the_app_whole(front: int) -> None:
    head = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    reply = exchange(front, head + b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"\r\n\r\n7"), reply


def test_a_body_not_received_within_the_body_timeout_is_answered_408_and_dropped(front: int) -> None:
    started = time.monotonic()
    reply = exchange(front, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert 0.9 < time.monotonic() - started < 4


def trickle_until_dropped(conn: socket.socket, data: bytes, *, every_seconds: float, seconds: float) -> float:
    """Send `data` a byte at a time; return when the server drops the connection (seconds taken)."""
    started = time.monotonic()
    for byte in data:
        if time.monotonic() - started > seconds:
            break
        try:
            if data and every_seconds:
                conn.sendall(bytes([byte]))
            if select.select([conn], [], [], every_seconds or seconds)[0] and conn.recv(1024) == b"":
                return time.monotonic() - started
        except OSError:  # reset or broken pipe: dropped
            return time.monotonic() - started
    raise AssertionError(f"the server still held the connection after {seconds} s")


def test_a_head_not_received_within_the_header_timeout_is_dropped(front: int) -> None:
    with socket.create_connection(("127.0.0.1", front), timeout=5) as conn:
        head = b"POST /x HTTP/1.1\r\n" + b"X-Slow: 1\r\n" * 20  # a byte every 0.1 s: never done by 1 s
        assert 0.9 < trickle_until_dropped(conn, head, every_seconds=0.1, seconds=4) < 3


def test_an_idle_connection_is_dropped_after_the_header_timeout(front: int) -> None:
    with socket.create_connection(("127.0.0.1", front), timeout=5) as conn:
        assert 0.9 < trickle_until_dropped(conn, b"-", every_seconds=0, seconds=4) < 3


class Trickler:
    """`count` connections that each send one more byte every `every_seconds` (head or body)."""

    def __init__(self, port: int, count: int, prefix: bytes, *, every_seconds: float) -> None:
        self.socks = []
        for _ in range(count):
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.setblocking(False)
            self.socks.append(conn)
        self.prefix, self.every, self.sent = prefix, every_seconds, 0

    def tick(self) -> None:
        data = self.prefix[self.sent : self.sent + 1] or b"x"
        for conn in self.socks:
            with contextlib.suppress(OSError):  # dropped by the server: that is allowed
                conn.send(data)
        self.sent += 1

    def close(self) -> None:
        for conn in self.socks:
            conn.close()


def test_slow_clients_do_not_starve_agents_or_health_checks() -> None:
    """A small version of BENCHMARKS.md's attack: 300 trickling connections and 100 idle ones."""
    exporter = ExporterProcess("-check-interval=1")
    report = next(iter(fixture_paths()))
    attackers = [
        Trickler(exporter.port, 150, b"POST /api/v1/agents/slow HTTP/1.1\r\nHost: x\r\n", every_seconds=0.5),
        Trickler(exporter.port, 150, b"POST /api/v1/agents/slow HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 3700\r\n\r\n{", every_seconds=0.5),
        Trickler(exporter.port, 100, b"", every_seconds=1000),  # idle: never send a byte
    ]  # fmt: skip
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.5):
            for attacker in attackers[:2]:
                attacker.tick()

    attack = threading.Thread(target=trickle, daemon=True)
    attack.start()
    latencies: dict[str, list[float]] = {"post": [], "healthz": [], "metrics": []}
    try:
        deadline = time.monotonic() + 4  # inside the 5 s header timeout: the attack is still on
        with ThreadPoolExecutor(3) as pool:
            while time.monotonic() < deadline:
                timed = [
                    pool.submit(_timed, lambda: exporter.post_fixture(report)),
                    pool.submit(_timed, lambda: exporter.get("/healthz")),
                    pool.submit(_timed, lambda: exporter.get("/metrics")),
                ]
                for kind, future in zip(latencies, timed, strict=True):
                    latencies[kind].append(future.result())
                time.sleep(0.1)
    finally:
        stop.set()
        attack.join(timeout=5)
        for attacker in attackers:
            attacker.close()
        code, stderr = exporter.stop()
    assert code == 0, stderr
    for kind, seconds in latencies.items():
        assert len(seconds) >= 10, kind
        assert max(seconds) < 1.0, (kind, sorted(seconds)[-5:])


def _timed(call: Callable[[], requests.Response]) -> float:
    started = time.monotonic()
    response = call()
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    return elapsed


def test_the_open_files_limit_is_raised_so_held_connections_do_not_exhaust_it() -> None:
    code = (
        "import resource\n"
        "from netchecker_exporter.http.front import raise_open_files_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "print(raise_open_files_limit(4096), resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split() == ["4096", "4096"]


def test_the_exporter_refuses_an_oversized_report_with_its_json_413_before_reading_it() -> None:
    exporter = ExporterProcess("-max-report-bytes=2000")
    try:
        head = (
            b"POST /api/v1/agents/netchecker-agent-big HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
        )
        reply = exchange(exporter.port, head)  # the 5 MB body never comes: the answer does not wait for it
        assert reply.startswith(b"HTTP/1.1 413"), reply
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {
            "error": "report body of 5000000 bytes exceeds the limit of 2000 bytes"
        }
        rejected = 'netchecker_reports_received_total{result="rejected"}'
        assert f"{rejected} 1.0" in exporter.get("/metrics").text
    finally:
        exporter.stop()


def test_a_kept_alive_connection_that_goes_idle_is_dropped_after_the_header_timeout(front: int) -> None:
    with socket.create_connection(("127.0.0.1", front), timeout=5) as conn:
        conn.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        reply = b""
        while not reply.endswith(b"\r\n\r\n2"):
            reply += conn.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        assert 0.9 < trickle_until_dropped(conn, b"-", every_seconds=0, seconds=4) < 3


@pytest.mark.xdist_group("front_exporter")  # one unit for xdist: one exporter, not one per worker
@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/v1/agents/%2541", 404, "no report stored for agent '%41'"),
        ("/api/v1/agents/caf%C3%A9", 404, "no report stored for agent 'café'"),
        ("/api/v1/agents/a%ffb", 400, "the path is not valid UTF-8 once percent-decoded"),
        ("/api/v1/agents/%ff", 400, "the path is not valid UTF-8 once percent-decoded"),
        ("/api/v1/agents/%zz", 400, "the path has a malformed percent-escape"),
    ],
)
def test_the_path_is_percent_decoded_once_and_a_malformed_escape_is_400_behind_the_front(
    front_exporter: ExporterProcess, path: str, status: int, error: str
) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    reply = exchange(front_exporter.port, request)
    assert reply.startswith(f"HTTP/1.1 {status}".encode()), reply  # never the listing at /agents/
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"error": error}


@pytest.fixture(scope="module")
def front_exporter() -> Iterator[ExporterProcess]:
    exporter = ExporterProcess()
    yield exporter
    exporter.stop()
