"""A cluster without a kubelet: etcd 3.6 + kube-apiserver, the chart's objects, hand-made agent pods.

Agent pods are built from the DaemonSets' own pod templates (labels, service account, hostNetwork)
with spec.nodeName set, and given a status through the status subresource, as a kubelet would.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from e2e.helm import Helm
from e2e.kube_apiserver import KubeApiServer
from e2e.kube_client import KubeClient, Object, objects_of_kind
from e2e.manifests import KUBE_DIR, VARIANTS
from tests.support.etcd import EtcdProcess

NAMESPACE = "netchecker"
EXPORTER_ACCOUNT = "netchecker-server"
_pod_ips = itertools.count(10)


@dataclass
class Cluster:
    etcd: EtcdProcess
    apiserver: KubeApiServer
    admin: KubeClient
    helm: Helm
    manifests: list[Object] = field(default_factory=list)
    """The chart rendered as config/kubernetes/base is (etcd sidecar), and that variant's Namespace."""

    def daemonset(self, *, host_network: bool) -> Object:
        for obj in objects_of_kind(self.manifests, "DaemonSet"):
            if bool(obj["spec"]["template"]["spec"].get("hostNetwork")) == host_network:
                return obj
        raise LookupError(f"no agent DaemonSet with hostNetwork={host_network}")

    def rbac_objects(self) -> list[Object]:
        kinds = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
        return objects_of_kind(self.manifests, *kinds)

    def binding(self, name: str = EXPORTER_ACCOUNT) -> Object:
        """A ClusterRoleBinding of the chart by name: netchecker-server's is the pods' grant."""
        return self.named("ClusterRoleBinding", name)

    def cluster_role(self, name: str = EXPORTER_ACCOUNT) -> Object:
        """A ClusterRole of the chart by name: netchecker-server's grants pods list and watch (helm
        orders objects by template file, so the first one is the Events writer's)."""
        return self.named("ClusterRole", name)

    def named(self, kind: str, name: str) -> Object:
        return next(o for o in objects_of_kind(self.manifests, kind) if o["metadata"]["name"] == name)

    def exporter_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig with a TokenRequest token of the exporter's own ServiceAccount."""
        token = self.admin.service_account_token(NAMESPACE, EXPORTER_ACCOUNT)
        return self.apiserver.kubeconfig(token, path)

    def create_agent_pod(
        self, name: str, node: str, *, host_network: bool = False, running: bool = True
    ) -> Object:
        """A pod as the agent DaemonSet would create it on `node`, Running with a pod IP unless told."""
        template = copy.deepcopy(self.daemonset(host_network=host_network)["spec"]["template"])
        metadata = {**template["metadata"], "name": name, "namespace": NAMESPACE}
        spec = {**template["spec"], "nodeName": node}
        pod = self.admin.create_pod({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
        return self.set_running(name) if running else pod

    def set_running(self, name: str) -> Object:
        ip = f"10.244.0.{next(_pod_ips)}"
        status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "127.0.0.1"}
        return self.admin.patch_pod(NAMESPACE, name, {"status": status}, subresource="status")

    def relabel(self, name: str, labels: dict[str, str]) -> Object:
        return self.admin.patch_pod(NAMESPACE, name, {"metadata": {"labels": labels}})

    def delete_pod(self, name: str, *, grace_seconds: int | None = None) -> Object:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE}}
        result: Object = self.admin.delete(pod, grace_seconds=grace_seconds)
        return result

    def pod(self, name: str) -> Object | None:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE}}
        found: Object | None = self.admin.get(pod, expect=(200, 404))
        return found if found and found.get("kind") == "Pod" else None


def base_manifests(helm: Helm) -> list[Object]:
    """config/kubernetes/base's objects, straight from the chart (and its hand-written Namespace)."""
    namespace: Object = yaml.safe_load((KUBE_DIR / "namespace" / "namespace.yaml").read_text())
    return [namespace, *helm.template(VARIANTS[0].values)]


def start_cluster(peers_kube_apiserver: Path, helm: Helm, directory: Path) -> Cluster:
    """etcd 3.6, then kube-apiserver on it, then the chart's Namespace, ServiceAccounts and RBAC."""
    etcd = EtcdProcess(directory / "etcd", name="kube-storage")
    etcd.start()
    apiserver: KubeApiServer | None = None
    try:
        apiserver = KubeApiServer(peers_kube_apiserver, etcd.url, directory)
        admin = KubeClient(apiserver.url, apiserver.admin_token, apiserver.tls.ca)
        cluster = Cluster(etcd, apiserver, admin, helm, base_manifests(helm))
        apiserver.start()
        for obj in cluster.rbac_objects():
            admin.apply(obj)
    except BaseException:  # nothing of ours may outlive a failed start
        if apiserver is not None:
            apiserver.stop()
        etcd.kill()
        raise
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    cluster.apiserver.stop()
    cluster.etcd.kill()
