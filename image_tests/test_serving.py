"""The image serves as kubespray runs it: /healthz, a real report in and out, uid 10001, read-only,
jemalloc."""

from __future__ import annotations

import re

import pytest

from image_tests.served import ServedImage, captured_report
from netchecker_exporter.tuning import JEMALLOC_CONF
from tests.support.polling import wait_until

pytestmark = pytest.mark.image

IMAGE_UID = 10001
"""config/kubernetes' runAsUser and kubespray's netchecker_server_user for this image."""
METRICS_SECONDS = 40
"""kubespray's flags keep the 10 s check interval: a report is in /metrics after the next pass."""


def test_healthz_answers_and_a_captured_report_posts_and_reads_back(served: ServedImage) -> None:
    assert served.get("/healthz").json() == {"status": "ok"}
    report = captured_report()
    assert served.post_report(report).status_code == 200
    stored = served.get(f"/api/v1/agents/{report['podname']}")
    assert stored.status_code == 200
    assert stored.json()["nodename"] == report["nodename"]
    assert stored.json()["network_probes"] == report["network_probes"]
    assert report["podname"] in served.get("/api/v1/agents/").json()


def test_server_is_uid_10001_on_a_read_only_root_without_any_tmpfs(served: ServedImage) -> None:
    status = served.container.exec("cat", "/proc/1/status")
    for field in ("Uid", "Gid"):
        (line,) = [line for line in status.splitlines() if line.startswith(f"{field}:")]
        assert line.split()[1:] == [str(IMAGE_UID)] * 4, line
    mounts = [line.split() for line in served.container.exec("cat", "/proc/1/mountinfo").splitlines()]
    root = next(fields for fields in mounts if fields[4] == "/")
    assert "ro" in root[5].split(","), root
    writable = {fields[4] for fields in mounts if "rw" in fields[5].split(",")}
    assert not writable & {"/tmp", "/var/tmp", "/run", "/app", "/opt/venv"}, writable
    assert served.container.exec("sh", "-c", "touch /tmp/probe 2>&1", check=False).strip()
    # and it still takes reports and renders them into /metrics (at its next pass) with nowhere to write
    report = {**captured_report("netchecker-agent-hostnet-read-only"), "nodename": "node-read-only"}
    assert served.post_report(report).status_code == 200
    wait_until(
        lambda: 'agent="node-read-only-host_network"' in served.get("/metrics").text,
        METRICS_SECONDS,
        "the report in /metrics",
        interval_seconds=0.5,
    )


def test_jemalloc_is_loaded_as_exporter_py_loads_it_outside_a_container(served: ServedImage) -> None:
    maps = served.container.exec("cat", "/proc/1/maps")
    assert re.search(r"/libjemalloc\.so\.2$", maps, re.MULTILINE), "jemalloc is not mapped in the server"
    environ = dict(
        entry.split("=", 1)
        for entry in served.container.exec("cat", "/proc/1/environ").split("\0")
        if "=" in entry
    )
    assert environ["PYTHONMALLOC"] == "malloc"
    assert environ["MALLOC_CONF"] == JEMALLOC_CONF
    assert environ["LD_PRELOAD"].endswith("libjemalloc.so.2")
