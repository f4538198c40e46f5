"""Counters of what the Kubernetes writers did: Events, Node condition patches, leadership."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

EVENT_RESULTS = ("written", "failed", "suppressed")
CONDITION_RESULTS = ("written", "failed")
FAILURE_STAGES = ("lease", "nodes", "round")


class KubeWriteMetrics:
    """On the CLI's registry; importing this does not import the kubernetes client."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.events = Counter(
            "netchecker_kubernetes_events",
            "Kubernetes Events about node verdicts by result: written (created or series patched), "
            "failed (the API refused or was down), suppressed (rate limit).",
            ["result"],
            registry=registry,
        )
        self.condition_patches = Counter(
            "netchecker_node_condition_patches",
            "Node status patches of our conditions (-node-conditions) by result: written, failed.",
            ["result"],
            registry=registry,
        )
        self.failures = Counter(
            "netchecker_kubernetes_writer_failures",
            "Failures of the Kubernetes writer outside its Event and condition writes, by stage: "
            "lease (electing), nodes (reading the Nodes on taking the Lease), round (a bug, logged).",
            ["stage"],
            registry=registry,
        )
        self.leader = Gauge(
            "netchecker_leader",
            "1 while this replica holds the Lease that makes it the one writer of Events and conditions.",
            registry=registry,
        )
        for result in EVENT_RESULTS:
            self.events.labels(result=result)
        for result in CONDITION_RESULTS:
            self.condition_patches.labels(result=result)
        for stage in FAILURE_STAGES:
            self.failures.labels(stage=stage)
