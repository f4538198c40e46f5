"""The real peers `e2e/build-peers` built, found through the environment it prints (`make e2e`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Peers:
    kube_apiserver: Path
    kube_version: str
    etcd: Path
    etcdctl: Path
    etcd_version: str
    agent: Path | None
    """The real Go agent, or None while the module proxy does not serve it (the stand-in reports)."""
    helm: Path
    """helm 3, for charts/netchecker (every scenario's objects are the chart's)."""


def find_peers() -> Peers:
    """The built peers; skips (with how to get them) when not run through `make e2e`."""
    environ = os.environ
    needed = (
        "NETCHECKER_E2E_KUBE_APISERVER",
        "NETCHECKER_ETCD_BIN",
        "NETCHECKER_ETCDCTL_BIN",
        "NETCHECKER_E2E_HELM",
    )
    missing = [name for name in needed if not environ.get(name)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not set: run `make e2e` (it builds the peers with Go)")
    agent = environ.get("NETCHECKER_E2E_AGENT") or None
    return Peers(
        kube_apiserver=Path(environ["NETCHECKER_E2E_KUBE_APISERVER"]),
        kube_version=environ.get("NETCHECKER_E2E_KUBE_VERSION", "?"),
        etcd=Path(environ["NETCHECKER_ETCD_BIN"]),
        etcdctl=Path(environ["NETCHECKER_ETCDCTL_BIN"]),
        etcd_version=environ.get("NETCHECKER_E2E_ETCD_VERSION", "?"),
        agent=Path(agent) if agent else None,
        helm=Path(environ["NETCHECKER_E2E_HELM"]),
    )
