"""CPU per report of the etcd store alone, in-process: put_report from N threads, by thread.

    .venv/bin/python -m bench.etcd_store_cost [--writers 32] [--agents 10000] [--seconds 8]
        [--reports N] [--endpoint URL]

No HTTP: N threads call EtcdStore.put_report for --agents distinct agents (every agent once first,
not counted), then for --seconds (or until --reports more are in). Prints the process's CPU per
report and each thread's share (/proc/self/task, in clock ticks of 10 ms per thread: measure
seconds, not a few reports): the writer (group commit, Txn, gRPC call), the callers (admission,
the wait for their batch), the watch, and the native threads (gRPC's event engine). Run it from
another checkout's directory to measure that checkout's store with this venv (`cd BASE && python
-m bench.etcd_store_cost`); pin it with taskset to keep etcd off its core.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.payload import fleet_payloads
from netchecker_exporter.report import parse_report
from netchecker_exporter.settings import EtcdSettings
from netchecker_exporter.store.etcd import EtcdStore
from tests.support.etcd import EtcdProcess

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
BATCH = "netchecker_etcd_commit_batch_reports_count"


def thread_cpu_seconds() -> dict[int, float]:
    """utime + stime of every thread of this process, by native thread id."""
    seconds = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND
    return seconds


def measure(url: str, args: argparse.Namespace) -> None:
    reports = [parse_report(body, pod) for pod, body in fleet_payloads(args.agents, now=time.time())]
    registry = CollectorRegistry()
    settings = EtcdSettings((url,), f"store-cost-{os.getpid()}", None, None, None, 5.0)
    store = EtcdStore(settings, report_ttl_seconds=300, registry=registry)
    stop, counts = threading.Event(), [0] * args.writers

    def write(worker: int) -> None:
        index = worker
        while not stop.is_set():
            store.put_report(reports[index % len(reports)], time.time())
            counts[worker] += 1
            index += args.writers

    writers = [threading.Thread(target=write, args=(w,), name=f"caller-{w}") for w in range(args.writers)]
    for thread in writers:
        thread.start()
    while sum(counts) < len(reports):
        time.sleep(0.05)
    batches, done, cpu, threads = (
        registry.get_sample_value(BATCH) or 0,
        sum(counts),
        time.process_time(),
        thread_cpu_seconds(),
    )
    if args.reports:
        while sum(counts) - done < args.reports:
            time.sleep(0.05)
    else:
        time.sleep(args.seconds)
    reported, cpu = sum(counts) - done, time.process_time() - cpu
    batches = (registry.get_sample_value(BATCH) or 0) - batches
    after = thread_cpu_seconds()
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    stop.set()
    for thread in writers:
        thread.join()
    store.close()
    mean_batch = reported / max(1, batches)
    print(f"{reported} reports, {1e6 * cpu / reported:.0f} us of CPU per report, mean batch {mean_batch:.1f}")
    shares: dict[str, float] = {}
    for tid, seconds in after.items():
        name = names.get(tid, "native (gRPC)")
        label = "callers" if name.startswith("caller-") else name
        shares[label] = shares.get(label, 0.0) + seconds - threads.get(tid, 0.0)
    for name, seconds in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {name:24s} {1e6 * seconds / reported:7.1f} us per report")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--reports", type=int, default=0, help="measure this many reports instead of --seconds"
    )
    parser.add_argument("--endpoint", help="an etcd already running (its client URL): no etcd of our own")
    args = parser.parse_args()
    if args.endpoint:
        measure(args.endpoint, args)
        return
    with tempfile.TemporaryDirectory(prefix="etcd-store-cost-") as directory:
        etcd = EtcdProcess(Path(directory) / "etcd")
        etcd.start()
        try:
            measure(etcd.url, args)
        finally:
            etcd.kill()


if __name__ == "__main__":
    main()
