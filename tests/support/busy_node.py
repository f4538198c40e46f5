"""The report of a host-network agent on a busy node, built from the real agent's capture.

The captured hostnet report (tests/fixtures/agent-report-hostnet.json) comes from a quiet node.
On a real node the agent lists every host interface (COMPAT.md, "What the agents really send"):
one veth per pod, named and addressed the way the CNI does it, and in kube-proxy's IPVS mode
`kube-ipvs0` with one /32 per Service. Deterministic: the same arguments give the same bytes.

    python -m tests.support.busy_node > busy-node.json   # a body to POST by hand
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import sys
from typing import Any, Literal

from tests.support.paths import load_fixture

PODS = 250
"""Pods on the node: kubelet's default is 110, many clusters raise it to 250."""
SERVICES = 10_000
"""Services in the cluster: Kubernetes' documented scalability threshold."""
SERVICE_RANGE = ipaddress.ip_network("10.233.0.0/18")
"""kubespray's default kube_service_addresses."""
SERVICE_RANGE_IPV6 = ipaddress.ip_network("fd85:ee78:d8a6:8607::/108")
"""For a dual-stack cluster: kubespray's kube_service_addresses_ipv6 prefix, widened to /108 (the
largest service range Kubernetes allows; kubespray's default /116 holds only 4,096)."""
CALICO_LINK_LOCAL = "fe80::ecee:eeff:feee:eeee/64"
"""Calico gives every host-side veth the MAC ee:ee:ee:ee:ee:ee, so they share this address."""
Cni = Literal["calico", "bridge"]


def busy_node_report(
    pods: int = PODS, services: int = SERVICES, cni: Cni = "calico", *, dual_stack: bool = False
) -> dict[str, Any]:
    """The captured hostnet report with the interfaces of a node running `pods` pods in a
    cluster of `services` Services (IPVS mode; dual-stack: each with an IPv6 ClusterIP too)."""
    report = load_fixture("agent-report-hostnet.json")
    ips: dict[str, list[str]] = dict(report["ips"])
    ips.update(_pod_interfaces(pods, cni))
    ips["kube-ipvs0"] = [f"{SERVICE_RANGE[1 + i]}/32" for i in range(services)]
    if dual_stack:
        ips["kube-ipvs0"] += [f"{SERVICE_RANGE_IPV6[1 + i]}/128" for i in range(services)]
    ips["nodelocaldns"] = ["169.254.25.10/32"]
    ips["tunl0"] = ["10.233.64.0/32"]
    report["ips"] = dict(sorted(ips.items()))  # Go's encoding/json writes map keys sorted
    return report


def _pod_interfaces(pods: int, cni: Cni) -> dict[str, list[str]]:
    """Calico: cali + 11 hex digits of a hash of the workload; bridge: veth + 8 hex digits, each
    with the link-local address of its own random MAC."""
    interfaces = {}
    for pod in range(pods):
        digest = hashlib.sha256(f"pod-{pod}".encode()).hexdigest()
        if cni == "calico":
            interfaces[f"cali{digest[:11]}"] = [CALICO_LINK_LOCAL]
        else:
            mac = bytes.fromhex("02" + digest[:10])
            interfaces[f"veth{digest[10:18]}"] = [f"{_link_local(mac)}/64"]
    return interfaces


def _link_local(mac: bytes) -> str:
    """The EUI-64 link-local address of `mac` (the universal/local bit flipped, ff:fe inserted)."""
    eui = bytes([mac[0] ^ 0x02, *mac[1:3], 0xFF, 0xFE, *mac[3:]])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


def encode_like_the_agent(report: dict[str, Any]) -> bytes:
    """Compact JSON, as Go's json.Marshal writes the agent's body."""
    return json.dumps(report, separators=(",", ":")).encode()


if __name__ == "__main__":
    sys.stdout.buffer.write(encode_like_the_agent(busy_node_report()))
