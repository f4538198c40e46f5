"""The family table as prometheus_client families; never does I/O.

/metrics encodes the small server-wide families with these; the per-agent ones are written by
agent_lines.py, and tests hold both byte-identical to prometheus_client's own encoding
(tests/support/oracle.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from netchecker_exporter.metrics.families import (
    Family,
    Row,
    Sample,
    ServerState,
)

log = logging.getLogger(__name__)

_KINDS: dict[str, Callable[..., Metric]] = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}


def checked_samples(family: Family[Row], row: Row) -> list[Sample]:
    """The family's samples for `row`, refusing a label that is not text (a record from an older version)."""
    samples = list(family.samples(row))
    for labels, _ in samples:
        if not all(isinstance(value, str) for value in labels):
            raise TypeError(f"{family.name}: a label value is not a string: {labels!r}")
    return samples


def metric_family(family: Family[Any], samples: Iterable[Sample]) -> Metric:
    """A prometheus_client family with `samples`."""
    if family.kind == "info":
        info = InfoMetricFamily(family.name, family.help, labels=[])
        for labels, _ in samples:
            info.add_metric([], dict(zip(family.labels, labels, strict=True)))
        return info
    metric: Any = _KINDS[family.kind](family.name, family.help, labels=list(family.labels))
    for labels, value in samples:
        metric.add_metric(list(labels), value)
    return metric  # type: ignore[no-any-return]


def server_families(families: Sequence[Family[ServerState]], state: ServerState) -> list[Metric]:
    return [metric_family(family, checked_samples(family, state)) for family in families]
