"""What the image holds: its base's CA bundle (not the build host's), no caches or build tools,
and every runtime requirement but the asyncio client's that the Dockerfile removes on purpose."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from image_tests.podman import image_exists, podman, run_once, run_once_as_root

pytestmark = pytest.mark.image

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BASE_LABEL = "org.opencontainers.image.base.name"
DROPPED_REQUIREMENTS = {("kubernetes", "aiohttp"), ("kubernetes", "aiohttp-retry")}
"""kubernetes' asyncio client (kubernetes/aio) needs these; the Dockerfile removes it with them."""


def bundle_digest(image: str) -> str:
    return run_once_as_root(image, f"sha256sum {CA_BUNDLE} 2>/dev/null || echo absent").split()[0]


def test_image_keeps_its_bases_ca_bundle_not_the_build_hosts(image: str) -> None:
    """The build mounts the host's bundle read-only for its RUN steps; no layer may keep it."""
    host = Path(CA_BUNDLE)
    if not host.is_file():
        pytest.skip(f"this host has no {CA_BUNDLE} to leak")
    in_image = bundle_digest(image)
    assert in_image != hashlib.sha256(host.read_bytes()).hexdigest(), "the image holds the host's CA bundle"
    base = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", image))[BASE_LABEL]
    if image_exists(base):
        assert in_image == bundle_digest(base)


def test_image_has_no_pip_or_apt_caches_build_tools_or_build_sources(image: str) -> None:
    leftovers = run_once_as_root(
        image,
        "for tool in gcc cc c++ make ld pip pip3; do command -v $tool; done;"
        " ls -d /root/.cache /home/*/.cache /src 2>/dev/null;"
        " ls -d /var/cache/apt/*.bin /var/cache/apt/archives/*.deb 2>/dev/null;"
        " find /var/lib/apt/lists -type f ! -name lock;"
        " find /tmp /var/tmp /app -mindepth 1 -name '*' ! -name exporter.py;"
        " /opt/venv/bin/python -c 'import pip' 2>/dev/null && echo 'pip in the venv';"
        " /opt/venv/bin/python -c 'import setuptools' 2>/dev/null && echo 'setuptools in the venv'; true",
    )
    assert leftovers.split() == []


def test_image_config_keeps_no_build_settings(image: str) -> None:
    environment = json.loads(podman("image", "inspect", "--format", "{{json .Config.Env}}", image))
    assert [entry for entry in environment if entry.startswith("PIP_")] == []
    history = podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
    assert "PIP_CERT" not in history and "PIP_INDEX_URL" not in history


REQUIREMENTS_SCRIPT = """
import importlib.metadata as metadata, json, re
installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in metadata.distributions()}
unmet = []
for dist in metadata.distributions():
    for requirement in dist.requires or []:
        if "extra ==" in requirement:
            continue
        name = re.sub(r"[-_.]+", "-", re.split(r"[ <>=!;\\[(~]", requirement, maxsplit=1)[0]).lower()
        if name not in installed:
            unmet.append((dist.metadata["Name"].lower(), name))
print(json.dumps(sorted(set(unmet))))
"""


def test_every_requirement_is_installed_but_the_asyncio_clients(image: str) -> None:
    unmet = {tuple(pair) for pair in json.loads(run_once(image, "python", "-c", REQUIREMENTS_SCRIPT))}
    assert unmet == DROPPED_REQUIREMENTS


def test_the_kubernetes_pod_source_and_the_etcd_store_import_in_the_image(image: str) -> None:
    """What the served tests do not load (no cluster there): the synchronous kubernetes client."""
    modules = "netchecker_exporter.pods.kubernetes, netchecker_exporter.store.etcd, kubernetes.watch"
    assert run_once(image, "python", "-c", f"import {modules}; print('imported')").strip() == "imported"
