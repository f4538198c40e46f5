"""The modes of charts/netchecker the e2e scenarios render: each store, each option switched on."""

from __future__ import annotations

from e2e.helm import Values

PRIVILEGED_NAMESPACE = "netchecker-privileged"
"""Where the `everything` mode puts the host-network agent (Pod Security: privileged)."""

MODES: dict[str, Values] = {
    "memory": {},
    "etcd-sidecar": {"store": {"type": "etcd-sidecar"}},
    "etcd-external": {
        "server": {"replicas": 3},
        "store": {"type": "etcd-external", "etcdExternal": {"endpoints": ["https://etcd-0.example:2379"]}},
    },
    "sharded": {
        "server": {"replicas": 3, "sharding": {"enabled": True}},
        "store": {"type": "etcd-external", "etcdExternal": {"endpoints": ["https://etcd-0.example:2379"]}},
        "serviceMonitor": {"enabled": True},
        "networkPolicy": {"enabled": True},
    },
    "namespaced-nodeport": {"rbac": {"clusterWide": False}, "service": {"type": "NodePort"}},
    "everything": {
        "fleet": {"nodes": 2000},
        "agents": {"hostNetwork": {"namespace": PRIVILEGED_NAMESPACE}, "probeURLs": ["http://example.org/"]},
        "server": {"extraArgs": ["-check-interval=5"], "podAnnotations": {"example.org/team": "network"}},
        "networkPolicy": {"enabled": True},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
        "nodeConditions": {"enabled": True, "heartbeatSeconds": 600},
    },
    "no-kube-writes": {"events": {"enabled": False}},
}

OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
"""prometheus-operator's kinds: the bare API server has no such CRDs to dry-run them against."""
