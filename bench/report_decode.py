"""CPU per report of decoding and validating a POSTed body: json.loads + parse_report against
msgspec's one pass (report_wire.decode_report), on the real agents' bodies; and of reading back
and writing the record the etcd store keeps of each (json against msgspec).

    .venv/bin/python -m bench.report_decode [--reports 20000] [--repeat 5]

Each reader takes the same bodies (the captured reports under distinct pod names, compact with
their padding, as bench.payload writes them for wrk) on this one thread; the figure is process
CPU time over the reports, the best of --repeat rounds (the least disturbed by other work on the
machine), and the median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.payload import agent_identity, load_fixtures, render_report
from netchecker_exporter.report import (
    AgentRecord,
    next_record,
    parse_report,
    record_from_stored_json,
    record_to_stored_json,
)
from netchecker_exporter.report_wire import decode_report, decode_stored_record, loads_report
from netchecker_exporter.store.etcd_plan import encode_stored

Reader = Callable[[Any], object]
CASES: dict[str, dict[str, Reader]] = {
    "report (POST body)": {
        "json+parse_report": lambda item: parse_report(loads_report(item[0]), item[1]),
        "msgspec decode_report": lambda item: decode_report(item[0], item[1]),
    },
    "stored record, read (etcd watch)": {
        "json+record_from_stored_json": lambda item: record_from_stored_json(json.loads(item[2])),
        "msgspec decode_stored_record": lambda item: decode_stored_record(item[2]),
    },
    "stored record, written (etcd put)": {
        "json.dumps": lambda item: json.dumps(record_to_stored_json(item[3]), ensure_ascii=False,
                                              separators=(",", ":")).encode(),
        "msgspec encode_stored": lambda item: encode_stored(item[3]),
    },
}  # fmt: skip


def inputs(count: int) -> list[tuple[bytes, str, bytes, AgentRecord]]:
    """`count` real reports as the agents send them (bench.payload), two agents a node: each
    body, its pod, and the record the etcd store writes of it (bytes, and the record)."""
    fixtures, now = load_fixtures(), time.time()
    made = []
    for identity in map(agent_identity, range(count)):
        body = render_report(fixtures[identity.hostnet], identity, now=now)
        record = next_record(None, parse_report(loads_report(body), identity.pod), now)
        made.append((body, identity.pod, encode_stored(record), record))
    return made


def cpu_us_per_item(read: Reader, items: list[Any]) -> float:
    started = time.process_time()
    for item in items:
        read(item)
    return (time.process_time() - started) / len(items) * 1e6


def measure(count: int, repeat: int) -> dict[str, Any]:
    items = inputs(count)
    results: dict[str, Any] = {}
    for case, readers in CASES.items():
        rounds: dict[str, list[float]] = {label: [] for label in readers}
        for _ in range(repeat):  # interleaved, so a busy moment on the machine hits both
            for label, read in readers.items():
                rounds[label].append(cpu_us_per_item(read, items))
        results[case] = {
            label: {"best_us": min(times), "median_us": statistics.median(times), "rounds_us": times}
            for label, times in rounds.items()
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.reports, args.repeat)
    print(json.dumps(result, indent=2))
    for case, figures in result.items():
        (old_label, old), (new_label, new) = ((label, f["best_us"]) for label, f in figures.items())
        print(f"{case}: {old_label} {old:.1f} us, {new_label} {new:.1f} us: {old / new:.2f} x")


if __name__ == "__main__":
    main()
