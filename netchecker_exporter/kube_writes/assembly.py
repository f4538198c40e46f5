"""Builds the Kubernetes writer from the settings, for cli.run: who we are, where the Lease lives."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry

from netchecker_exporter.kube_writes.api import KubeRest, KubeWriteApi
from netchecker_exporter.kube_writes.condition_plan import ConditionPlanner, ConditionSettings
from netchecker_exporter.kube_writes.event_plan import EventPlanner, EventSettings
from netchecker_exporter.kube_writes.lease import LeaseElector
from netchecker_exporter.kube_writes.metrics import KubeWriteMetrics
from netchecker_exporter.kube_writes.write_gate import WriteGate
from netchecker_exporter.kube_writes.writer import KubeWriter, WriterIdentity
from netchecker_exporter.pods.cluster_access import ClusterAccess, find_cluster_access
from netchecker_exporter.pods.kubernetes import connect
from netchecker_exporter.settings import Settings

log = logging.getLogger(__name__)

LEASE_NAME = "netchecker-exporter"
SERVICE_NAMESPACE_PATH = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def build_kube_writer(
    settings: Settings, environ: Mapping[str, str], registry: CollectorRegistry
) -> KubeWriter | None:
    """None when both writes are off, or there is no cluster to write to (static or none pods)."""
    wanted = settings.kube_writes
    if not (wanted.events or wanted.node_conditions) or settings.pods_file:
        return None
    access = find_cluster_access(settings.kubernetes.kubeconfig, environ)
    if access is None:
        return None
    rest = KubeRest(connect(access, environ))
    now = time.time()
    hostname = socket.gethostname()
    namespace = lease_namespace(settings, access)
    elector = LeaseElector(rest, namespace=namespace, name=LEASE_NAME,
                           identity=f"{hostname}_{uuid.uuid4().hex[:10]}")  # fmt: skip
    conditions = ConditionSettings(heartbeat_seconds=wanted.node_conditions_heartbeat_seconds)
    log.info("Kubernetes writes: events=%s node-conditions=%s, one writer elected by Lease %s/%s",
             wanted.events, wanted.node_conditions, namespace, LEASE_NAME)  # fmt: skip
    return KubeWriter(
        api=KubeWriteApi(rest),
        elector=elector,
        gate=WriteGate(settle_seconds=settings.kubernetes.startup_grace_seconds, now=now),
        events=EventPlanner(EventSettings(), now) if wanted.events else None,
        conditions=ConditionPlanner(conditions, now) if wanted.node_conditions else None,
        metrics=KubeWriteMetrics(registry),
        identity=writer_identity(hostname, namespace, access),
    )


def lease_namespace(settings: Settings, access: ClusterAccess) -> str:
    """-lease-namespace, else our pod's own namespace, else -namespace, else `default`."""
    if settings.kube_writes.lease_namespace:
        return settings.kube_writes.lease_namespace
    if access.kubeconfig is None:
        try:
            return SERVICE_NAMESPACE_PATH.read_text(encoding="utf-8").strip() or "default"
        except OSError:
            pass
    return settings.kubernetes.namespace or "default"


def writer_identity(hostname: str, namespace: str, access: ClusterAccess) -> WriterIdentity:
    """In a pod the summary Event is about our Pod (its name is the hostname), else our Namespace."""
    if access.kubeconfig is None:
        pod = {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": hostname}
        return WriterIdentity(hostname, pod, namespace)
    return WriterIdentity(hostname, {"apiVersion": "v1", "kind": "Namespace", "name": namespace}, "default")
