"""Where `make test`'s CPU goes, per test module: an opt-in pytest plugin and its report.

`--durations` gives wall time, which on a shared machine is mostly other jobs; this records, per test
(setup, call and teardown), the wall time, the worker's own CPU and the CPU of the child processes it
reaped (exporters, etcd, Prometheus: counted when they exit, so a module-scoped process shows in its
module's last test). Each xdist worker writes one JSON file:

    profile=$(mktemp -d)
    CPU_PROFILE=$profile .venv/bin/python -m pytest -p tests.support.cpu_profile -n 4 --dist loadgroup ...
    .venv/bin/python -m tests.support.cpu_profile $profile
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

OUTPUT_ENV = "CPU_PROFILE"
_rows: list[dict[str, Any]] = []


def _cpu_seconds() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    started = time.monotonic()
    own, children = _cpu_seconds()
    yield
    own_after, children_after = _cpu_seconds()
    _rows.append(
        {
            "test": item.nodeid,
            "wall": time.monotonic() - started,
            "own": own_after - own,
            "children": children_after - children,
        }
    )


def pytest_sessionfinish() -> None:
    prefix = os.environ.get(OUTPUT_ENV)
    if prefix:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        own, children = _cpu_seconds()
        summary = {"rows": _rows, "own": own, "children": children}
        Path(f"{prefix}.{worker}.json").write_text(json.dumps(summary))


def report(prefix: str, top: int = 30) -> str:
    """Per worker: CPU in tests and in all (the difference is start-up and collection); then the
    modules with the most wall time in tests, with their CPU."""
    lines, modules = [], defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for path in sorted(Path(prefix).parent.glob(Path(prefix).name + ".*.json")):
        summary = json.loads(path.read_text())
        rows = summary["rows"]
        in_tests = sum(row["own"] for row in rows), sum(row["children"] for row in rows)
        lines.append(
            f"{path.suffixes[-2][1:]}: {len(rows)} tests, {sum(row['wall'] for row in rows):.1f} s in tests,"
            f" CPU in tests {in_tests[0]:.1f} own + {in_tests[1]:.1f} children,"
            f" in all {summary['own']:.1f} own + {summary['children']:.1f} children"
        )
        for row in rows:
            module = modules[row["test"].split("::")[0]]
            module[0] += row["wall"]
            module[1] += row["own"]
            module[2] += row["children"]
            module[3] += 1
    lines.append(f"{'wall s':>7} {'own s':>6} {'kids s':>6} {'tests':>5}  module")
    for name, (wall, own, children, count) in sorted(modules.items(), key=lambda m: -m[1][0])[:top]:
        lines.append(f"{wall:7.1f} {own:6.1f} {children:6.1f} {count:5d}  {name}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1]))
