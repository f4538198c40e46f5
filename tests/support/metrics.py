"""A real exposition of every family the server can export, read back as (type, label names)."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from netchecker_exporter.cli import build_registry
from netchecker_exporter.diagnosis.nodes import diagnose
from netchecker_exporter.http.defence import ApiCounters
from netchecker_exporter.http.front_admission import FrontMetrics
from netchecker_exporter.kube_writes.metrics import KubeWriteMetrics
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.metrics.shard import NO_SHARDING, ShardMetrics
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.pods.kube_metrics import KubernetesClientMetrics
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot
from tests.support.paths import load_fixture
from tests.support.reports import NOW, make_snapshot

FamilyShape = tuple[str, frozenset[str] | None]
"""A family's type and the label names of its samples (None: it has none in this exposition)."""
OURS = re.compile(r"(netchecker|ncagent)_")


def full_snapshot() -> Snapshot:
    """The fixtures' snapshot with a synced Kubernetes pod source: every family has samples."""
    snapshot = make_snapshot(
        load_fixture("agent-report-hostnet.json"), load_fixture("agent-report-podnet-failed-probe.json")
    )
    health = PodSourceHealth(up=True, last_sync_timestamp=NOW - 1)
    diagnosis = diagnose(snapshot.verdicts, NOW, DiagnosisSettings())
    return Snapshot(snapshot.verdicts, snapshot.store, "kubernetes", health, NOW, 0.25, 1, diagnosis)


def exposition_text(snapshot: Snapshot, *, legacy_metrics: bool = True) -> str:
    """What GET /metrics answers for `snapshot`, with the registry cli.run builds for Kubernetes."""
    registry, _ = build_registry()
    KubernetesClientMetrics(registry)
    KubeWriteMetrics(registry)
    ApiCounters.register(registry)
    FrontMetrics(registry)
    registry.register(ShardMetrics(NO_SHARDING))
    metrics = MetricsExposition(lambda: snapshot, registry, version="1.2.3", legacy_metrics=legacy_metrics)
    body, _ = metrics.render("", "")
    return (body if isinstance(body, bytes) else body.read()).decode()


def exported_families(text: str) -> dict[str, FamilyShape]:
    """Our families (netchecker_*, ncagent_*) by the name their samples carry in the text format."""
    shapes: dict[str, FamilyShape] = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        if OURS.match(name):
            labels = frozenset(label for sample in family.samples for label in sample.labels)
            shapes[name] = (family.type, labels if family.samples else None)
    return shapes
