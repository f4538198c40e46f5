"""The pieces under the fast /metrics writer: one gzip member, Go's numbers, scrapes during a write."""

from __future__ import annotations

import gzip
import threading
import zlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from netchecker_exporter.metrics.agent_lines import go_float, number
from netchecker_exporter.metrics.deflate_run import deflate_run
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.metrics.gzip_body import gzip_body, runs_prefix
from netchecker_exporter.snapshot import Snapshot
from tests.support.reports import make_snapshot, varied_snapshot


def test_a_gzip_body_is_one_member_of_the_runs_then_the_tail() -> None:
    """curl and browsers read only a body's first gzip member: the tail must be inside it."""
    chunks = [b"# HELP a\n", b"a 1.0\n" * 10_000, b"", b"b 2.0\n"]
    body = gzip_body(runs_prefix(deflate_run([chunk]) for chunk in chunks), b"tail 3.0\n# EOF\n")
    reader = zlib.decompressobj(wbits=31)
    assert reader.decompress(body) == b"".join(chunks) + b"tail 3.0\n# EOF\n"
    assert reader.eof
    assert reader.unused_data == b""
    assert gzip.decompress(gzip_body(runs_prefix([]), b"")) == b""


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**15), 10**15).map(float))
def test_number_writes_what_go_and_prometheus_client_write(value: float) -> None:
    assert number(value) == go_float(value)


class Scrapes:
    """An exposition over a Snapshot the test swaps."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.metrics = MetricsExposition(lambda: self.snapshot, CollectorRegistry(), version="1")

    def text_in_thread(self) -> list[bytes]:
        """Scrape on a thread of its own (the test may hold the write lock); joined by the caller."""
        out: list[bytes] = []

        def scrape() -> None:
            body, _ = self.metrics.render("", "")
            out.append(body if isinstance(body, bytes) else body.read())

        thread = threading.Thread(target=scrape, daemon=True)
        thread.start()
        self.thread = thread
        return out


def test_a_scrape_during_a_write_serves_the_last_written_snapshot_and_otherwise_writes_its_own(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    scrapes = Scrapes(make_snapshot(hostnet_report, podnet_report))
    scrapes.metrics.warm()
    first = scrapes.text_in_thread()
    scrapes.thread.join(5)
    scrapes.snapshot = varied_snapshot(hostnet_report, podnet_report)
    with scrapes.metrics._write_lock:  # the reconcile thread is writing the new Snapshot
        stale = scrapes.text_in_thread()
        scrapes.thread.join(5)
        assert not scrapes.thread.is_alive()
    assert stale == first
    fresh = scrapes.text_in_thread()  # no write under way: the scrape writes the new Snapshot
    scrapes.thread.join(5)
    assert fresh
    assert fresh != first
