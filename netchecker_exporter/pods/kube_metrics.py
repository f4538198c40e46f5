"""Client metrics of the Kubernetes pod source: list and watch calls by result, watch restarts, relists,
and whether it watches or lists (the sync mode)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from netchecker_exporter.pods.sync_mode import SyncMode

VERBS = ("list", "watch")
RESULTS = ("success", "expired", "error")
RESTART_REASONS = ("timeout", "dropped", "expired")


class KubernetesClientMetrics:
    """Counters on the CLI's registry (a private one when none is given, as in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "netchecker_kubernetes_requests",
            "List and watch calls to the Kubernetes API by result: success, expired (410 Gone), error.",
            ["verb", "result"],
            registry=registry,
        )
        self.watch_restarts = Counter(
            "netchecker_kubernetes_watch_restarts",
            "Pod watches started again, by why the last one ended: timeout (normal), dropped, expired.",
            ["reason"],
            registry=registry,
        )
        self.relists = Counter(
            "netchecker_kubernetes_relists",
            "Full lists of the agent pods: the first one, each after the watch expired (410 Gone), "
            "and each one of list mode.",
            registry=registry,
        )
        self.sync_mode = Gauge(
            "netchecker_kubernetes_pod_sync_mode",
            "How the agent pods are kept current, one-hot: watch, or list (a list every check "
            "interval, because RBAC forbids the watch).",
            ["mode"],
            registry=registry,
        )
        self.show_sync_mode(SyncMode.WATCH)
        for verb in VERBS:
            for result in RESULTS:
                self.requests.labels(verb=verb, result=result)
        for reason in RESTART_REASONS:
            self.watch_restarts.labels(reason=reason)

    def show_sync_mode(self, mode: SyncMode) -> None:
        for each in SyncMode:
            self.sync_mode.labels(mode=each.value).set(1.0 if each is mode else 0.0)
