"""The machine a run happened on, and a run's results as the Markdown table of BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def machine_facts() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (x.split(":", 1)[1].strip() for x in cpuinfo.splitlines() if x.startswith("model name")), "?"
    )
    memory_kib = next(
        int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """Median of the runs, with the range when there was more than one: `3,120 (3,050-3,190)`."""
    middle = fmt(statistics.median(values))
    if len(values) < 2 or fmt(min(values)) == fmt(max(values)):
        return middle
    return f"{middle} ({fmt(min(values))}-{fmt(max(values))})"


def rate(x: float) -> str:
    return f"{x:,.0f}/s"


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def mib(x: float) -> str:
    return f"{x / MIB:.0f} MiB"


def _wrk_row(label: str, runs: list[dict[str, Any]], ceiling: float | None) -> str:
    rates = [r["rate"] for r in runs]
    ratio = f"{statistics.median(rates) / ceiling:.2f}" if ceiling else "1"
    return (
        f"| {label} | {spread(rates, rate)} | {spread([r['p50'] for r in runs], ms)} "
        f"| {spread([r['p99'] for r in runs], ms)} | {spread([r['error_fraction'] for r in runs], pct)} "
        f"| {spread([r['server_cpu_fraction'] for r in runs], pct)} | {ratio} |"
    )


def _fleet_row(store: str, runs: list[dict[str, Any]]) -> str:
    return (
        f"| {store} | {spread([r['rate_per_second'] for r in runs], rate)} "
        f"| {spread([r['latency_seconds']['p50'] for r in runs], ms)} "
        f"| {spread([r['latency_seconds']['p99'] for r in runs], ms)} "
        f"| {spread([r['error_fraction'] for r in runs], pct)} "
        f"| {spread([r['server_cpu_fraction'] for r in runs], pct)} "
        f"| {spread([r['generator_lag_seconds']['p99'] for r in runs], ms)} "
        f"| {spread([r['client_cpu_fraction'] for r in runs], pct)} |"
    )


def _stored_row(store: str, s: dict[str, Any]) -> str:
    scrape, passes = s["scrape_seconds"], s["reconcile_seconds"]
    prometheus = s["prometheus_scrape_seconds"]
    return (
        f"| {store} | {ms(scrape['p50'])} (max {ms(scrape['max'])}) | {s['scrape_bytes'] / MIB:.1f} MiB, "
        f"{s['scrape_samples']:,} samples | {ms(prometheus['p50'])} (max {ms(prometheus['max'])}) "
        f"| {s['prometheus_scrape_bytes'] / MIB:.1f} MiB | {ms(passes['p50'])} (max {ms(passes['max'])}) "
        f"| {mib(s['server_rss_bytes'])} |"
    )


def markdown_table(results: dict[str, Any]) -> str:
    stores = [s for s in ("memory", "etcd") if s in results]
    noop = results["ceiling_noop"]
    ceiling = statistics.median(r["rate"] for r in noop)
    lines = [
        "| maximum ingest (wrk) | reports/s | p50 | p99 | errors | server CPU | x no-op |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        _wrk_row("no-op WSGI app (ceiling)", noop, None),
        *(_wrk_row(f"{store} store", results[store]["max_ingest"], ceiling) for store in stores),
    ]
    if "ceiling_etcd" in results:
        puts = results["ceiling_etcd"]
        lines.append(
            "| raw etcd puts, etcd3 client, 8 threads (ceiling) "
            f"| {spread([r['rate_per_second'] for r in puts], rate)} "
            f"| {spread([r['latency_seconds']['p50'] for r in puts], ms)} "
            f"| {spread([r['latency_seconds']['p99'] for r in puts], ms)} "
            f"| {sum(r['errors'] for r in puts)} errors | | |"
        )
    lines += [
        "",
        "| steady fleet: 10,000 agents / 10 s | reports/s | p50 | p99 | errors | server CPU "
        "| generator lag p99 | generator CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_fleet_row(store, results[store]["steady_fleet"]) for store in stores),
        "",
        "| 10,000 agents stored | scrape, text p50 | text size | scrape, OpenMetrics+gzip p50 | gzip size "
        "| reconcile pass p50 | server RSS |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(_stored_row(store, results[store]["stored_10k"]) for store in stores),
    ]
    if "kube" in results:
        runs = results["kube"]
        lines += [
            "",
            "| 5,000 labelled pods (fake kube-apiserver) | sync, from first request "
            "| sync, from process start | requests to sync | requests/min when quiet | reconcile pass "
            "| server RSS |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| kubernetes pod source | {spread([r['seconds_from_first_request'] for r in runs], ms)} "
            f"| {spread([r['seconds_from_start'] for r in runs], ms)} "
            f"| {spread([float(r['requests_to_sync']) for r in runs], lambda x: f'{x:.0f}')} "
            f"| {spread([r['quiet_requests_per_minute'] for r in runs], lambda x: f'{x:.2f}')} "
            f"over {runs[0]['quiet_seconds']:.0f} s "
            f"| {spread([r['reconcile_seconds'] or 0.0 for r in runs], ms)} "
            f"| {spread([float(r['server_rss_bytes']) for r in runs], mib)} |",
        ]
    return "\n".join(lines)
