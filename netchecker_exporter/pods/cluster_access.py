"""Which Kubernetes API to talk to, if any: -kubeconfig, $KUBECONFIG, or the pod's service account.

Decided without importing the client, so start-up with no cluster stays light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SERVICE_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
SERVICE_CA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


@dataclass(frozen=True, slots=True)
class ClusterAccess:
    """How to reach the API server: a kubeconfig file (list), or the pod's service account."""

    kubeconfig: str | None
    """None: in-cluster, with the service account's token and CA."""
    reason: str
    token_path: str = SERVICE_TOKEN_PATH
    ca_path: str = SERVICE_CA_PATH


def find_cluster_access(
    kubeconfig: str | None,
    environ: Mapping[str, str],
    *,
    token_path: str = SERVICE_TOKEN_PATH,
    ca_path: str = SERVICE_CA_PATH,
) -> ClusterAccess | None:
    """kubectl's order: -kubeconfig, then $KUBECONFIG, then the pod's service account; None if none."""
    if kubeconfig:
        return ClusterAccess(kubeconfig, f"-kubeconfig={kubeconfig}")
    if environ.get("KUBECONFIG"):
        return ClusterAccess(environ["KUBECONFIG"], f"$KUBECONFIG={environ['KUBECONFIG']}")
    if environ.get("KUBERNETES_SERVICE_HOST") and os.path.isfile(token_path):
        reason = f"in-cluster (KUBERNETES_SERVICE_HOST is set and {token_path} exists)"
        return ClusterAccess(None, reason, token_path, ca_path)
    return None
