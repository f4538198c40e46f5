"""How the Kubernetes pod source finds and reaches the API server: kubeconfig or in-cluster, over TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from netchecker_exporter.errors import ConfigError
from netchecker_exporter.pods.cluster_access import ClusterAccess, find_cluster_access
from netchecker_exporter.pods.kubernetes import connect
from tests.support.kube_access import TOKEN, SourceFactory, write_kubeconfig
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.polling import wait_until

IN_POD = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


@pytest.fixture
def service_account(tmp_path: Path, pki: Path) -> tuple[Path, Path]:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    return token, pki / "ca.crt"


@pytest.mark.parametrize(
    ("flag", "environ", "token_exists", "expected"),
    [
        ("/etc/kube.conf", {"KUBECONFIG": "/home/me/.kube/config", **IN_POD}, True, "/etc/kube.conf"),
        ("", {"KUBECONFIG": "/home/me/.kube/config", **IN_POD}, True, "/home/me/.kube/config"),
        ("", IN_POD, True, "in-cluster"),
        ("", IN_POD, False, None),
        ("", {"KUBECONFIG": ""}, True, None),
        ("", {}, True, None),
    ],
)
def test_access_follows_kubectl_order_flag_then_env_then_service_account(
    tmp_path: Path, flag: str, environ: dict[str, str], token_exists: bool, expected: str | None
) -> None:
    token = tmp_path / "token"
    if token_exists:
        token.write_text(TOKEN)
    access = find_cluster_access(flag or None, environ, token_path=str(token))
    if expected is None:
        assert access is None
    else:
        assert access is not None
        assert (access.kubeconfig or "in-cluster") == expected
        assert access.reason


def test_an_unreadable_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="Kubernetes access via -kubeconfig"):
        connect(ClusterAccess(str(missing), f"-kubeconfig={missing}"), {})


def test_in_cluster_access_without_a_ca_file_is_a_config_error(service_account: tuple[Path, Path]) -> None:
    token, _ = service_account
    access = ClusterAccess(None, "in-cluster", str(token), "/nonexistent/ca.crt")
    with pytest.raises(ConfigError, match="certification file does not exist"):
        connect(access, IN_POD)


def test_in_cluster_access_uses_the_service_account_token_and_ca_over_tls(
    cluster: FakeCluster,
    tls_apiserver: FakeKubeApiServer,
    service_account: tuple[Path, Path],
    make_source: SourceFactory,
) -> None:
    cluster.create_pod("agent-a")
    token, ca = service_account
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(tls_apiserver.port)}
    access = find_cluster_access(None, environ, token_path=str(token), ca_path=str(ca))
    assert access is not None
    assert access.kubeconfig is None
    source = make_source(access=access, environ=environ)
    assert source.wait_until_synced(5)
    assert {p.name for p in source.expected_pods({})} == {"agent-a"}
    assert tls_apiserver.requests[0].authorization.lower() == f"bearer {TOKEN}"


def test_a_kubeconfig_with_a_certificate_authority_reaches_a_tls_api_server(
    tmp_path: Path,
    cluster: FakeCluster,
    tls_apiserver: FakeKubeApiServer,
    pki: Path,
    make_source: SourceFactory,
) -> None:
    cluster.create_pod("agent-a")
    config = write_kubeconfig(tmp_path / "tls-kubeconfig", tls_apiserver.url, TOKEN, ca_file=pki / "ca.crt")
    source = make_source(access=ClusterAccess(str(config), "test"))
    assert source.wait_until_synced(5)


def test_a_server_certificate_from_another_ca_is_refused(
    tmp_path: Path,
    tls_apiserver: FakeKubeApiServer,
    pki: Path,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig-no-ca", tls_apiserver.url, TOKEN)  # system CAs only
    source = make_source(access=ClusterAccess(str(config), "test"))
    wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, what="a verification failure")
    assert not source.wait_until_synced(0)
    assert source.health().up is False
    assert tls_apiserver.requests == []
