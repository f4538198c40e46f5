"""The fake API server speaks the real protocol: checked with plain HTTP, no Kubernetes client."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.kube_access import TOKEN
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster


def get(server: FakeKubeApiServer, path: str) -> Any:
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    return urllib.request.urlopen(request, timeout=5)


def test_a_watch_sees_objects_leave_and_enter_its_selector_as_deleted_and_added(
    cluster: FakeCluster, apiserver: FakeKubeApiServer
) -> None:
    cluster.create_pod("agent-a")
    version = cluster.version
    events: list[tuple[str, str]] = []

    def watch() -> None:
        with get(apiserver, f"/api/v1/pods?watch=true&labelSelector=app%3Dnetchecker-agent"
                            f"&resourceVersion={version}&timeoutSeconds=2") as response:  # fmt: skip
            events.extend((e["type"], e["object"]["metadata"]["name"]) for e in map(json.loads, response))

    reader = threading.Thread(target=watch)
    reader.start()
    cluster.relabel("netchecker", "agent-a", {"app": "retired"})
    cluster.update_pod("netchecker", "agent-a", lambda pod: pod["status"].__setitem__("phase", "Running"))
    cluster.relabel("netchecker", "agent-a", {"app": "netchecker-agent"})
    cluster.set_phase("netchecker", "agent-a", "Failed")
    cluster.delete_pod("netchecker", "agent-a")
    reader.join(timeout=5)
    assert events == [
        ("DELETED", "agent-a"),
        ("ADDED", "agent-a"),
        ("MODIFIED", "agent-a"),
        ("DELETED", "agent-a"),
    ]


def test_a_watch_from_a_compacted_version_gets_an_error_event_with_410(
    cluster: FakeCluster, apiserver: FakeKubeApiServer
) -> None:
    old = cluster.version
    cluster.create_pod("agent-a")
    cluster.compact()
    with get(apiserver, f"/api/v1/pods?watch=true&resourceVersion={old}") as response:
        assert response.status == 200
        (event,) = [json.loads(line) for line in response]
    assert event["type"] == "ERROR"
    assert (event["object"]["kind"], event["object"]["code"], event["object"]["reason"]) == (
        "Status",
        410,
        "Expired",
    )


def test_requests_without_the_token_are_unauthorized(apiserver: FakeKubeApiServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(apiserver.url + "/api/v1/pods", timeout=5)
    assert raised.value.code == 401
    assert json.loads(raised.value.read())["reason"] == "Unauthorized"


def test_a_watch_from_version_zero_starts_with_the_current_objects(
    cluster: FakeCluster, apiserver: FakeKubeApiServer
) -> None:
    cluster.create_pod("agent-a")
    cluster.create_pod("agent-b")
    with get(apiserver, "/api/v1/pods?watch=true&resourceVersion=0&timeoutSeconds=1") as response:
        events = [json.loads(line) for line in response]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "agent-a"),
        ("ADDED", "agent-b"),
    ]
