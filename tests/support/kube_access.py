"""Talking to the fake Kubernetes API: its token, fast watch timing, kubeconfig files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from netchecker_exporter.pods.kubernetes import KubernetesPodSource
from netchecker_exporter.pods.watch_timing import WatchTiming

TOKEN = "test-token"
FAST = WatchTiming(
    watch_timeout_seconds=30,
    watch_idle_seconds=5.0,
    request_timeout_seconds=5.0,
    connect_timeout_seconds=2.0,
    page_size=500,
    backoff_base_seconds=0.05,
    backoff_max_seconds=0.2,
)


def write_kubeconfig(path: Path, server: str, token: str, ca_file: Path | None = None) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": cluster}],
        "users": [{"name": "exporter", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "exporter"}}],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


SourceFactory = Callable[..., KubernetesPodSource]
"""The `make_source` fixture: builds, starts and (at teardown) closes a pod source."""
