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


def us(x: float) -> str:
    return f"{x * 1e6:.0f} us"


def pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def mib(x: float) -> str:
    return f"{x / MIB:.0f} MiB"


def failed(value: Any) -> str | None:
    """The recorded error of a scenario that failed (bench.run.recorded), else None."""
    return value["error"] if isinstance(value, dict) and "error" in value else None


def _failed_row(label: str, error: str, columns: int) -> str:
    return f"| {label} | failed: {error} |" + " |" * (columns - 2)


Ceiling = tuple[float, float]
"""(median reports/s, median server CPU seconds per report) of a no-op run."""


def _cpu_per_report(run: dict[str, Any]) -> float:
    return float(run["server_cpu_fraction"]) / max(float(run["rate"]), 1e-9)


def ceiling_of(runs: list[dict[str, Any]]) -> Ceiling:
    return statistics.median(r["rate"] for r in runs), statistics.median(_cpu_per_report(r) for r in runs)


def _ratio(runs: list[dict[str, Any]], ceiling: Ceiling | None) -> str:
    """Reports/s over the ceiling's, and (in brackets) the ceiling's CPU per report over ours."""
    if ceiling is None:
        return "?"
    ours = ceiling_of(runs)
    return f"{ours[0] / ceiling[0]:.2f} ({ceiling[1] / ours[1]:.2f})"


def _wrk_row(label: str, runs: Any, ceilings: Sequence[Ceiling | None]) -> str:
    if error := failed(runs):
        return _failed_row(label, error, 7 + len(ceilings))
    rates = [r["rate"] for r in runs]
    ratios = " | ".join(_ratio(runs, c) for c in ceilings)
    cpu_per_report = [_cpu_per_report(r) for r in runs]
    return (
        f"| {label} | {spread(rates, rate)} | {spread([r['p50'] for r in runs], ms)} "
        f"| {spread([r['p99'] for r in runs], ms)} | {spread([r['error_fraction'] for r in runs], pct)} "
        f"| {spread([r['server_cpu_fraction'] for r in runs], pct)} | {spread(cpu_per_report, us)} "
        f"| {ratios} |"
    )


def _rate_and_latency(runs: Any) -> str:
    """The rate, p50 and p99 cells of a load run (fleet and etcd rows share them)."""
    return (
        f"{spread([r['rate_per_second'] for r in runs], rate)} "
        f"| {spread([r['latency_seconds']['p50'] for r in runs], ms)} "
        f"| {spread([r['latency_seconds']['p99'] for r in runs], ms)}"
    )


def _fleet_row(store: str, runs: Any) -> str:
    if error := failed(runs):
        return _failed_row(store, error, 8)
    if not runs:  # --fleet-repeat 0
        return f"| {store} | not run |" + " |" * 6
    return (
        f"| {store} | {_rate_and_latency(runs)} "
        f"| {spread([r['error_fraction'] for r in runs], pct)} "
        f"| {spread([r['server_cpu_fraction'] for r in runs], pct)} "
        f"| {spread([r['generator_lag_seconds']['p99'] for r in runs], ms)} "
        f"| {spread([r['client_cpu_fraction'] for r in runs], pct)} |"
    )


def _stored_row(store: str, s: Any) -> str:
    if error := failed(s):
        return _failed_row(store, error, 7)
    scrape, passes = s["scrape_seconds"], s["reconcile_seconds"]
    prometheus = s["prometheus_scrape_seconds"]
    return (
        f"| {store}, {s.get('agents') or 0:,.0f} agents | {ms(scrape['p50'])} (max {ms(scrape['max'])}) "
        f"| {s['scrape_bytes'] / MIB:.1f} MiB, "
        f"{s['scrape_samples']:,} samples | {ms(prometheus['p50'])} (max {ms(prometheus['max'])}) "
        f"| {s['prometheus_scrape_bytes'] / MIB:.1f} MiB | {ms(passes['p50'])} (max {ms(passes['max'])}) "
        f"| {mib(s['server_rss_bytes'])} |"
    )


def _etcd_row(label: str, puts: Any) -> str:
    if error := failed(puts):
        return _failed_row(label, error, 9)
    return f"| {label} | {_rate_and_latency(puts)} | {sum(r['errors'] for r in puts)} errors | | | | |"


def noop_ceilings(results: dict[str, Any]) -> tuple[Ceiling | None, Ceiling | None, str]:
    """The no-op ceilings of our front and of the fastest front (by reports/s), and the fastest's name."""
    ceilings = {
        name: ceiling_of(runs)
        for name, runs in results.get("fronts", {}).items()
        if name.endswith("/noop") and not failed(runs)
    }
    if not ceilings:
        return None, None, "?"
    fastest = max(ceilings, key=lambda name: ceilings[name][0])
    return ceilings.get("ours/noop"), ceilings[fastest], fastest.split("/")[0]


def _fronts_table(results: dict[str, Any], fastest: Ceiling | None) -> list[str]:
    return [
        "| HTTP front, no-op app (wrk) | reports/s | p50 | p99 | errors | server CPU | CPU per report "
        "| x fastest no-op |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            _wrk_row(FRONT_LABELS.get(name, name), runs, [fastest])
            for name, runs in results["fronts"].items()
        ),
        "",
    ]


FRONT_LABELS = {
    "ours/noop": "ours: granian embedded, RSGI + WSGI bridge (shipped)",
    "granian-wsgi/noop": "granian's own WSGI mode, 1 worker, 32 threads",
    "waitress/noop": "waitress 3, 32 threads",
    "gunicorn/noop": "gunicorn gthread, 1 worker, 32 threads",
    "cheroot/noop": "cheroot, 32 threads",
    "ours/bottle": "bottle no-op route on ours",
    "granian-wsgi/bottle": "bottle no-op route on granian's WSGI mode",
    "waitress/bottle": "bottle no-op route on waitress",
}


def _slow_clients_table(attack: Any) -> list[str]:
    header = [
        "",
        "| slow-client attack | requests | failed | p50 | p99 | max | max in the first second |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    if error := failed(attack):
        return [*header, _failed_row("attack", error, 7)]
    rows = []
    for kind, label in (("post", "agent POSTs"), ("healthz", "GET /healthz"), ("metrics", "GET /metrics")):
        probe = attack[kind]
        latency = probe["latency_seconds"] or {"p50": 0.0, "p99": 0.0, "max": 0.0}
        first = probe["first_second_max_seconds"] or 0.0
        rows.append(
            f"| {label} | {probe['requests']} | {probe['failed']} | {ms(latency['p50'])} "
            f"| {ms(latency['p99'])} | {ms(latency['max'])} | {ms(first)} |"
        )
    return [*header, *rows]


def markdown_table(results: dict[str, Any]) -> str:
    stores = [s for s in ("memory", "etcd") if s in results]
    ours, fastest, fastest_name = noop_ceilings(results)
    lines = _fronts_table(results, fastest) if "fronts" in results else []
    lines += [
        "| maximum ingest (wrk) | reports/s | p50 | p99 | errors | server CPU | CPU per report "
        f"| x our no-op | x fastest no-op ({fastest_name}) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            _wrk_row(f"{store} store", _part(results[store], "max_ingest"), [ours, fastest])
            for store in stores
        ),
    ]
    if "ceiling_etcd" in results:
        lines.append(_etcd_row("raw etcd puts, our stubs, 8 threads (ceiling)", results["ceiling_etcd"]))
    if "ceiling_etcd_txn" in results:
        lines.append(
            _etcd_row("raw etcd puts in Txns of 50, our stubs, 8 threads", results["ceiling_etcd_txn"])
        )
    lines += [
        "",
        "| steady fleet: 10,000 agents / 10 s | reports/s | p50 | p99 | errors | server CPU "
        "| generator lag p99 | generator CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_fleet_row(store, _part(results[store], "steady_fleet")) for store in stores),
        "",
        "| 10,000 agents stored | scrape, text p50 | text size | scrape, OpenMetrics+gzip p50 | gzip size "
        "| reconcile pass p50 | server RSS |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(_stored_row(store, _part(results[store], "stored_10k")) for store in stores),
    ]
    if "slow_clients" in results:
        lines += _slow_clients_table(results["slow_clients"])
    if "kube" in results and not failed(results["kube"]):
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


def _part(store_results: Any, name: str) -> Any:
    """One scenario's results, or the store's own recorded error when the store never started."""
    return store_results if failed(store_results) else store_results[name]
