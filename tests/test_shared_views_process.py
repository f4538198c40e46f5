"""Slow readers of the big views share one body: a real `python exporter.py` with ~10 MB of /metrics
and a fat agent list, 20 clients that request a view and then read nothing, and the server's RSS
stays under idle + one body + a margin (issue 23: each reader held its own copy, +210 MB here). The
app's part is held in-process by test_json_views.py; this holds the whole server, whose front sends
large bodies through pipes (http/piped_response.py): both encodings and OpenMetrics still whole,
one Snapshot per body, and no pipe left open once the readers are gone."""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from netchecker_exporter.http.stale_bodies import STALE_BODY_GRACE_SECONDS
from tests.support.exporter import ExporterProcess
from tests.support.polling import wait_until
from tests.support.reports import flood_report

# one xdist unit: one fat server (its 10 MB of reports and renders cost seconds of CPU), not one per
# worker that happens to run one of these tests
pytestmark = [pytest.mark.process, pytest.mark.xdist_group("shared_views")]

AGENTS = 20
"""Flood reports make ~0.6-1 MB of /metrics each: over 10 MB in all, well over what the kernel's
socket buffers take off the server (a few MB per connection on loopback)."""
READERS = 20
LOOK_SECONDS = 0.25
"""How often a wait looks at /metrics: each look is a ~10 MB body to send, decode and search, which
every 20 ms (the polling default) kept a core busy and slowed the server it waited for."""
MARGIN_BYTES = 32 * 1024 * 1024 + READERS * 1024 * 1024
"""Interpreter churn, plus what each reader holds: its pipe, granian's read step and hyper's queued
chunk, and the threads tokio starts to read pipes (measured: 0.74 MB per stalled reader)."""


def rss_bytes(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


@pytest.fixture(scope="module")
def fat_server() -> Iterator[ExporterProcess]:
    server = ExporterProcess("-check-interval=30", "-max-metrics-bytes=268435456")
    session = requests.Session()
    try:
        for index in range(AGENTS):
            name = f"netchecker-agent-fat-{index}"
            body = json.dumps({**flood_report(index), "podname": name})
            headers = {"Content-Type": "application/json"}
            response = session.post(
                f"{server.url}/api/v1/agents/{name}", data=body, headers=headers, timeout=10
            )
            assert response.status_code == 200, response.text
        wait_until(lambda: f"fat-{AGENTS - 1}" in server.get("/metrics").text, 20, "every agent on /metrics",
                   interval_seconds=LOOK_SECONDS)  # fmt: skip
        yield server
    finally:
        server.stop()


def stalled_readers(server: ExporterProcess, path: str, count: int) -> list[socket.socket]:
    """Clients that send a GET, read its first KiB and then nothing (a receive window of 4 KiB),
    one after another: at once, all but -max-heavy-reads of them would get 503."""
    readers = []
    for _ in range(count):
        sock = socket.socket()
        readers.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        head = sock.recv(1024)
        assert head.startswith(b"HTTP/1.1 200"), head
    return readers


@pytest.mark.parametrize("path", ["/metrics"])
def test_stalled_readers_of_a_big_view_cost_one_body_not_one_each(
    fat_server: ExporterProcess, path: str
) -> None:
    body = len(requests.get(fat_server.url + path, timeout=10).content)  # renders it, once
    time.sleep(1)  # let the render's garbage go before the baseline
    assert body > (10_000_000 if path == "/metrics" else 1_000_000)
    idle = rss_bytes(fat_server.process.pid)
    readers = stalled_readers(fat_server, path, READERS)
    try:
        time.sleep(2)  # the server has written what the sockets take and holds the rest
        held = rss_bytes(fat_server.process.pid)
        assert held < idle + body + MARGIN_BYTES, (idle, held, body)
        assert fat_server.get("/healthz").status_code == 200
    finally:
        for sock in readers:
            sock.close()


def open_pipes(pid: int) -> int:
    """The pipes the server holds open (each piped response holds one until it is sent)."""
    count = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(entry).startswith("pipe:")
        except FileNotFoundError:  # closed while listed
            continue
    return count


def read_response(sock: socket.socket, head: bytes = b"") -> tuple[dict[str, str], bytes]:
    """Headers and the whole body of a response with a Content-Length, `head` already received."""
    data = head
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    raw_head, body = data.split(b"\r\n\r\n", 1)
    lines = raw_head.decode("latin-1").split("\r\n")[1:]
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(1 << 20)
        assert chunk, "closed before the end of the body"
        body += chunk
    return headers, body


def test_gzip_and_openmetrics_answers_are_whole_through_the_pipe(fat_server: ExporterProcess) -> None:
    identity = {"Accept-Encoding": "identity"}
    plain = requests.get(fat_server.url + "/metrics", headers=identity, timeout=30)
    zipped = requests.get(
        fat_server.url + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=30, stream=True
    )
    raw = zipped.raw.read(decode_content=False)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert len(raw) == int(zipped.headers["Content-Length"])
    text = gzip.decompress(raw).decode()
    assert text.split("\n# HELP process_")[0] == plain.text.split("\n# HELP process_")[0]
    wanted = {**identity, "Accept": "application/openmetrics-text"}
    openmetrics = requests.get(fat_server.url + "/metrics", headers=wanted, timeout=30)
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert len(openmetrics.content) == int(openmetrics.headers["Content-Length"]) > 10_000_000
    assert openmetrics.text.endswith("# EOF\n")


def post_agent(server: ExporterProcess, name: str, index: int) -> None:
    posted = requests.post(
        f"{server.url}/api/v1/agents/{name}",
        data=json.dumps({**flood_report(index), "podname": name}),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert posted.status_code == 200, posted.text


def test_a_slow_reader_gets_the_snapshot_it_started_on_whole(fat_server: ExporterProcess) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the server holds most of the body
    sock.settimeout(30)
    try:
        sock.connect(("127.0.0.1", fat_server.port))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        head = sock.recv(4096)
        post_agent(fat_server, "netchecker-agent-late-0", AGENTS)
        wait_until(lambda: "late-0" in fat_server.get("/metrics").text, 60, "the late agent on /metrics",
                   interval_seconds=LOOK_SECONDS)  # fmt: skip
        _, body = read_response(sock, head)
    finally:
        sock.close()
    text = body.decode()
    assert "late-0" not in text
    assert f"fat-{AGENTS - 1}" in text
    families = {family.name for family in text_string_to_metric_families(text)}
    assert "process_cpu_seconds" in families  # the scrape's own tail, after the Snapshot's part


def test_no_pipe_outlives_its_readers(fat_server: ExporterProcess) -> None:
    pid = fat_server.process.pid
    requests.get(fat_server.url + "/metrics", timeout=30)
    baseline = open_pipes(pid)
    readers = stalled_readers(fat_server, "/metrics", 8)
    held = open_pipes(pid)
    assert held >= baseline + 8, (baseline, held)  # each stalled reader's pipe, held while it stalls
    for sock in readers:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # reset, mid-body
    for _ in range(3):
        assert len(requests.get(fat_server.url + "/metrics", timeout=30).content) > 10_000_000
    wait_until(lambda: open_pipes(pid) <= baseline, 20, "every response's pipe closed")  # at once, in fact


STALE_CUTS = re.compile(rb'^netchecker_http_refused_total\{budget="stale_body"\} (\S+)$', re.MULTILINE)


def stale_body_cuts(server: ExporterProcess) -> float:
    """Readers cut so far, from the current body: plain like the stalled reader's (gzip would
    compress ~11 MB on each look) and searched as bytes (decoding and splitting it cost more)."""
    body = requests.get(server.url + "/metrics", headers={"Accept-Encoding": "identity"}, timeout=30).content
    found = STALE_CUTS.search(body)
    assert found is not None
    return float(found[1])


def test_a_reader_still_on_a_body_replaced_long_ago_is_cut_off(fat_server: ExporterProcess) -> None:
    """It would keep that Snapshot's body alive for as long as it takes to read (hours at 1 KB/s)."""
    cuts_before = stale_body_cuts(fat_server)
    (reader,) = stalled_readers(fat_server, "/metrics", 1)
    try:
        post_agent(fat_server, "netchecker-agent-later-0", AGENTS + 1)
        plain = {"Accept-Encoding": "identity"}  # the same kind of body as the reader's: plain text

        def newer_body_handed_out() -> bool:
            return "later-0" in requests.get(fat_server.url + "/metrics", headers=plain, timeout=30).text

        wait_until(newer_body_handed_out, 60, "a newer Snapshot's /metrics", interval_seconds=LOOK_SECONDS)
        # The cut comes the grace after the newer body was first handed out, which was at the latest
        # just now: until shortly before it there is nothing to look for (each look is ~11 MB).
        time.sleep(STALE_BODY_GRACE_SECONDS - 1)
        wait_until(lambda: stale_body_cuts(fat_server) > cuts_before, 30, "the stale body's reader cut",
                   interval_seconds=1)  # fmt: skip
        received = 0
        reader.settimeout(30)
        while chunk := reader.recv(1 << 20):  # ends when the server closes the connection
            received += len(chunk)
        assert received < 10_000_000  # short of the body's Content-Length (11.5 MB)
    finally:
        reader.close()
    assert stale_body_cuts(fat_server) > cuts_before
