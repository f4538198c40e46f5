"""bench.replica_ingest's parts: the goal's arithmetic, the profile's shares, the arguments, and the
wrk script that splits the load over replicas (run against two counting HTTP servers)."""

from __future__ import annotations

import argparse
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench import replica_ingest
from bench.payload import write_templates
from bench.run import parse_args


def run(count: int, reports_per_second: float, cpu_us: float = 900.0) -> dict[str, Any]:
    share = reports_per_second / count
    return {
        "reports_per_second": reports_per_second,
        "cpu_us_per_report": cpu_us,
        "etcd_puts_per_second": reports_per_second,
        "etcd_cpu_cores": 0.15,
        "machine_busy_cores": 1.9,
        "wrk": {"error_fraction": 0.0},
        "per_replica": [{"reports_per_second": share, "cpu_cores": 0.9}] * count,
    }


@pytest.mark.parametrize(("two", "holds"), [(1_700.0, True), (1_699.0, False)])
def test_the_goal_is_two_replicas_at_17_tenths_of_one(two: float, holds: bool) -> None:
    runs = {"1": [run(1, 900.0), run(1, 1_000.0), run(1, 1_100.0)], "2": [run(2, two)]}
    summary = replica_ingest.summary(runs)
    assert summary["by_replicas"]["1"]["reports_per_second"] == 1_000.0  # the median of the runs
    assert summary["by_replicas"]["2"]["ratio_to_one"] == pytest.approx(two / 1_000.0)
    assert summary["goal_holds"] is holds


def test_without_a_two_replica_run_the_goal_does_not_hold() -> None:
    assert replica_ingest.summary({"1": [run(1, 1_000.0)], "3": [run(3, 5_000.0)]})["goal_holds"] is False


def test_the_table_has_a_row_per_run_and_says_whether_the_goal_holds() -> None:
    runs = {"1": [run(1, 1_000.0)], "2": [run(2, 1_100.0)]}
    text = replica_ingest.table({"runs": runs, "summary": replica_ingest.summary(runs)})
    assert "| 2 | 1,100 | 550 / 550 | 900 us | 0.90 / 0.90 | 1,100 | 0.15 | 1.90 | 0.0% |" in text
    assert "| 2, median | 1,100 | 1.10 x one |" in text
    assert text.endswith("does not hold.")


COLLAPSED = """\
MainThread (1);run (granian/server.py:10);family_lines (netchecker_exporter/metrics/agent_lines.py:68) 6
MainThread (1);run (granian/server.py:10);family_lines (netchecker_exporter/metrics/agent_lines.py:64) 2
etcd-watch (2);consume (netchecker_exporter/store/etcd_watch.py:90);loads (json/__init__.py:346) 2
"""


def test_the_profile_shares_add_leaf_samples_by_function_and_by_module() -> None:
    shares = replica_ingest.leaf_shares(COLLAPSED)
    assert shares["functions"] == {
        "family_lines (netchecker_exporter/metrics/agent_lines.py)": 0.8,
        "loads (json/__init__.py)": 0.2,
    }
    assert shares["modules"]["json/__init__.py"] == 0.2
    assert shares["samples"] == {"all": 10.0}


@pytest.mark.parametrize("given", ["0", "1,9"])
def test_replica_counts_are_bounded(given: str) -> None:
    args = argparse.Namespace(replicas=given, replica_seconds=10, replica_repeat=1)
    with pytest.raises(SystemExit, match="from 1 to 8"):
        replica_ingest.parse_replicas(args)


def test_replicas_take_the_cores_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replica_ingest.os, "cpu_count", lambda: 2)
    assert [replica_ingest.replica_cpu(0, i) for i in range(3)] == [0, 1, 0]


class CountingServer(ThreadingHTTPServer):
    """Answers every POST with 200 and counts the pods it heard from."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CountingHandler)
        self.pods: Counter[str] = Counter()
        self.lock = threading.Lock()


class CountingHandler(BaseHTTPRequestHandler):
    server: CountingServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.pods[self.path.rsplit("/", 1)[-1]] += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def two_servers() -> Iterator[list[CountingServer]]:
    servers = [CountingServer(), CountingServer()]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


NO_WRK = "wrk is a Debian package (scripts/ensure-debian-packages)"


@pytest.mark.skipif(shutil.which("wrk") is None, reason=NO_WRK)
def test_the_wrk_script_gives_each_replica_its_own_agents(
    two_servers: list[CountingServer], tmp_path: Path
) -> None:
    write_templates(tmp_path)
    ports = [s.server_address[1] for s in two_servers]
    result = replica_ingest.wrk_spread(ports, 4, 1, tmp_path, None)
    first, second = (set(s.pods) for s in two_servers)
    assert first and second, "every replica gets connections"
    assert not first & second, "an agent always reaches the same replica"
    served = sum(s.pods.total() for s in two_servers)  # wrk leaves out the answers in flight at its end
    assert result["requests"] <= served <= result["requests"] + 4


def test_make_bench_runs_the_replica_counts_unless_told_none() -> None:
    assert parse_args([]).replicas == [1, 2, 3]
    assert parse_args(["--replicas", ""]).replicas == []
