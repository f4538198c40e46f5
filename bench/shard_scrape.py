"""/metrics of one replica when 1, 2 or 3 shards split a fleet: CPU per scrape and body bytes.

    python -m bench.shard_scrape [--agents 10000] [--shards 1,2] [--runs 3]

In one process, as bench/metrics_path.py: the captured reports of `--agents` agents (two a node) in
a memory store, one full pass, then for each shard of each topology its own exposition (the
per-agent lines and the diagnosis families of its share, netchecker_exporter/metrics/shard.py):
the write of its lines, a text scrape and a gzip scrape of that Snapshot. Every replica judges the
whole fleet either way; the pass is the same for every topology and is timed once.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from bench.metrics_path import Fleet, read_all
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.metrics.shard import MetricsShard
from netchecker_exporter.tuning import GC_THRESHOLDS


def timed(step: Callable[[], Any]) -> tuple[float, Any]:
    """CPU ms of `step` (time.process_time: a shared machine moves it less than wall time)."""
    started = time.process_time()
    result = step()
    return (time.process_time() - started) * 1000, result


def shard_rows(fleet: Fleet, shard: MetricsShard, runs: int) -> dict[str, float]:
    """Medians over `runs` fresh expositions of one shard: each run writes every line anew."""
    rows: dict[str, list[float]] = {}
    for _ in range(runs):
        registry = CollectorRegistry()
        metrics = MetricsExposition(lambda: fleet.reconciler.snapshot, registry, version="bench", shard=shard)
        write_ms, _ = timed(metrics.warm)
        text_ms, text = timed(lambda: read_all(metrics.render("", "")[0]))  # noqa: B023 (called at once)
        gzip_ms, packed = timed(lambda: read_all(metrics.render("", "gzip")[0]))  # noqa: B023
        assert gzip.decompress(packed) == text
        values = {
            "write_ms": write_ms,
            "text_scrape_ms": text_ms,
            "gzip_scrape_ms": gzip_ms,
            "text_bytes": float(len(text)),
            "gzip_bytes": float(len(packed)),
            "series": float(sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))),
        }
        for name, value in values.items():
            rows.setdefault(name, []).append(value)
    return {name: statistics.median(values) for name, values in rows.items()}


def measure(agents: int, topologies: Sequence[int], runs: int) -> dict[str, Any]:
    """{"pass_ms": ..., "topologies": {shards: [per-shard medians, ...]}}."""
    fleet = Fleet(agents)
    pass_ms, _ = timed(fleet.reconciler.reconcile_once)
    results: dict[str, Any] = {"agents": agents, "pass_ms": pass_ms, "topologies": {}}
    for total in topologies:
        results["topologies"][str(total)] = [
            shard_rows(fleet, MetricsShard(ordinal, total), runs) for ordinal in range(total)
        ]
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--shards", default="1,2", help="comma-separated topologies (shard counts)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)  # as the server runs (tuning.py)
    results = measure(args.agents, [int(n) for n in args.shards.split(",")], args.runs)
    print(f"{args.agents:,} agents; full pass {results['pass_ms']:.0f} CPU ms (every replica, any topology)")
    print("| shards | shard | write ms | text scrape ms | gzip scrape ms | text MiB | gzip MiB | series |")
    print("|---|---|---|---|---|---|---|---|")
    for total, shards in results["topologies"].items():
        for ordinal, row in enumerate(shards):
            print(f"| {total} | {ordinal} | {row['write_ms']:.0f} | {row['text_scrape_ms']:.0f} | "
                  f"{row['gzip_scrape_ms']:.0f} | {row['text_bytes'] / 2**20:.1f} | "
                  f"{row['gzip_bytes'] / 2**20:.2f} | {row['series']:,.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
