"""SIGTERM ends the container's server with exit 0 in seconds, and no acknowledged report is lost."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from image_tests.podman import podman
from image_tests.served import ServedImage, captured_report
from netchecker_exporter.flags import FLAGS_BY_NAME
from tests.support.etcd import EtcdProcess
from tests.support.polling import wait_until

pytestmark = pytest.mark.image

SHUTDOWN_SECONDS = 10
"""Kubernetes' grace period is 30 s and podman's stop timeout 10 s; the server needs well under 1 s."""


def test_podman_stop_ends_the_server_with_exit_0_before_the_kill(served: ServedImage) -> None:
    started = time.monotonic()
    podman("stop", "--time", "30", served.container.name)
    assert time.monotonic() - started < SHUTDOWN_SECONDS
    assert served.container.exit_code() == 0, served.container.logs()
    assert "received SIGTERM" in served.container.logs()


def test_sigterm_during_ingest_keeps_every_acknowledged_report_in_etcd(
    served: ServedImage, etcd: EtcdProcess
) -> None:
    acknowledged: list[str] = []
    posting = threading.Thread(target=post_until_refused, args=(served, acknowledged))
    posting.start()
    try:
        wait_until(lambda: len(acknowledged) >= 20, 60, "20 acknowledged reports")
        started = time.monotonic()
        served.container.signal("TERM")
        wait_until(lambda: not served.container.running, SHUTDOWN_SECONDS, "the container to exit")
        assert time.monotonic() - started < SHUTDOWN_SECONDS
    finally:
        posting.join(timeout=30)
    assert served.container.exit_code() == 0, served.container.logs()
    prefix = f"/{FLAGS_BY_NAME['etcd-tree'].default}/agents/"
    stored = set(etcd.etcdctl("get", "--prefix", "--keys-only", prefix).split())
    missing = {name for name in acknowledged if prefix + name not in stored}
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged reports are not in etcd"


def post_until_refused(served: ServedImage, acknowledged: list[str]) -> None:
    """Reports of new agents one after another until the server stops taking connections."""
    for index in range(100_000):
        name = f"netchecker-agent-image-{index}"
        try:
            response = served.post_report(captured_report(name))
        except requests.RequestException:
            return
        if response.status_code == 200:
            acknowledged.append(name)
        elif response.status_code != 503:
            raise AssertionError(f"POST {name}: {response.status_code} {response.text}")
