"""The image serving as kubespray runs the original server: its flags, the host's network, etcd.

kubespray starts k8s-netchecker-server with `-v=5 -logtostderr -kubeproxyinit=false
-endpoint=0.0.0.0:8081 -etcd-endpoints=http://127.0.0.1:2379` beside an etcd sidecar. Here the
same flags run on the host's network with the two ports free ones, so parallel runs and other
servers on this machine do not collide. The server binds 0.0.0.0 as kubespray has it. The root filesystem is
read-only with no tmpfs at all (podman's --read-only alone would add /tmp, /var/tmp and /run): the
server needs none. (tests/support/ports.py says why ports come from below the ephemeral range.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from image_tests.podman import Container
from tests.support.paths import load_fixture
from tests.support.polling import wait_until
from tests.support.ports import free_port

STARTUP_SECONDS = 60
"""Generous: two cores are shared by every test on the machine; the server is up in about a second."""

READ_ONLY = ("--read-only", "--read-only-tmpfs=false")


def kubespray_args(port: int, etcd_url: str) -> tuple[str, ...]:
    return (
        "-v=5",
        "-logtostderr",
        "-kubeproxyinit=false",
        f"-endpoint=0.0.0.0:{port}",
        f"-etcd-endpoints={etcd_url}",
    )


@dataclass
class ServedImage:
    container: Container
    url: str

    @classmethod
    def start(cls, image: str, etcd_url: str, *run_options: str) -> ServedImage:
        """The image answering /healthz; a port taken in between (a small race) is retried once."""
        for attempt in range(2):
            port = free_port("0.0.0.0")
            options = ("--network", "host", *READ_ONLY, *run_options)
            container = Container.start(image, *options, args=kubespray_args(port, etcd_url))
            served = cls(container, f"http://127.0.0.1:{port}")
            try:
                wait_until(served.healthy, STARTUP_SECONDS, f"the container's /healthz on {served.url}")
            except (TimeoutError, AssertionError) as error:
                logs = container.logs()
                container.remove()
                if attempt == 0 and "Address already in use" in logs:
                    continue
                raise AssertionError(f"{error}\n{logs}") from error
            return served
        raise AssertionError("the container's port was taken twice")

    def healthy(self) -> bool:
        if not self.container.running:
            raise AssertionError(f"the container exited {self.container.exit_code()}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=10)

    def post_report(self, report: dict[str, Any]) -> requests.Response:
        """An agent's POST, as the Go agent sends it (one connection per report)."""
        headers = {"Content-Type": "application/json", "Connection": "close"}
        return requests.post(
            f"{self.url}/api/v1/agents/{report['podname']}",
            data=json.dumps(report),
            headers=headers,
            timeout=10,
        )


def captured_report(podname: str | None = None) -> dict[str, Any]:
    """The real agent's captured hostNetwork report, under another pod's name when given."""
    report = load_fixture("agent-report-hostnet.json")
    return {**report, "podname": podname} if podname else report
