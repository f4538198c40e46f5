"""Which pod objects become expected agents, and the watch protocol pieces we parse ourselves."""

from __future__ import annotations

from typing import Any

import pytest

from netchecker_exporter.check import AgentStatus, Network, judge_agent
from netchecker_exporter.errors import PodSourceUnavailableError
from netchecker_exporter.pods.kube_protocol import (
    KubernetesApiError,
    ResourceExpiredError,
    error_from_response,
    event_lines,
    parse_event,
    status_error,
)
from netchecker_exporter.pods.pod_cache import PodCache, expected_pod_from_object
from netchecker_exporter.pods.watch_timing import WatchTiming, backoff_seconds

CREATED = "2026-01-01T00:00:00Z"
CREATED_EPOCH = 1_767_225_600.0
GRACE = 120.0


def pod(name: str = "netchecker-agent-abc", *, phase: str = "Running", **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "nc", "creationTimestamp": CREATED, **metadata},
        "spec": {"nodeName": "worker-1"},
        "status": {"phase": phase},
    }


@pytest.mark.parametrize("phase", ["Running", "Pending", "Unknown", ""])
def test_a_live_pod_is_expected_with_grace_counted_from_its_creation(phase: str) -> None:
    expected = expected_pod_from_object(pod(phase=phase), GRACE)
    assert expected is not None
    assert (expected.name, expected.namespace, expected.node) == ("netchecker-agent-abc", "nc", "worker-1")
    assert expected.absent_not_before == CREATED_EPOCH + GRACE


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_finished_pod_is_not_expected(phase: str) -> None:
    assert expected_pod_from_object(pod(phase=phase), GRACE) is None


def test_a_pod_being_deleted_is_not_expected() -> None:
    assert expected_pod_from_object(pod(deletionTimestamp="2026-01-01T00:05:00Z"), GRACE) is None


def test_a_silent_pod_is_starting_within_the_grace_and_absent_after_it() -> None:
    expected = expected_pod_from_object(pod(phase="Pending"), GRACE)
    assert expected is not None
    assert judge_agent(expected, None, CREATED_EPOCH + GRACE - 1).status is AgentStatus.STARTING
    assert judge_agent(expected, None, CREATED_EPOCH + GRACE).status is AgentStatus.ABSENT


def test_a_pod_without_a_creation_time_gets_no_grace() -> None:
    obj = pod()
    del obj["metadata"]["creationTimestamp"]
    expected = expected_pod_from_object(obj, GRACE)
    assert expected is not None
    assert expected.absent_not_before == 0.0


@pytest.mark.parametrize(
    ("name", "host_network", "labels", "network"),
    [
        ("netchecker-agent-x", False, {"app": "netchecker-agent"}, Network.POD),
        ("netchecker-agent-hostnet-x", False, {}, Network.HOST),
        ("agent-x", True, {}, Network.HOST),
        ("agent-x", False, {"app": "netchecker-agent-hostnet"}, Network.HOST),
    ],
)
def test_the_network_comes_from_host_network_the_name_or_the_app_label(
    name: str, host_network: bool, labels: dict[str, str], network: Network
) -> None:
    obj = pod(name, labels=labels)
    obj["spec"]["hostNetwork"] = host_network
    expected = expected_pod_from_object(obj, GRACE)
    assert expected is not None
    assert expected.network is network


def test_the_cache_follows_puts_removes_and_replaces() -> None:
    cache = PodCache(GRACE)
    cache.replace([pod("a"), pod("b"), pod("done", phase="Succeeded")])
    assert {p.name for p in cache.expected_pods()} == {"a", "b"}
    cache.put(pod("c"))
    cache.put(pod("a", phase="Failed"))
    cache.remove(pod("b"))
    assert {p.name for p in cache.expected_pods()} == {"c"}
    cache.replace([pod("d")])
    assert {p.name for p in cache.expected_pods()} == {"d"}


def test_event_lines_are_reassembled_across_chunk_boundaries() -> None:
    chunks = [b'{"type":"ADDED",', b'"object":{}}\n{"type":"BOOK', b'MARK","object":{}}\n\n', b'{"partial"']
    assert list(event_lines(chunks)) == [b'{"type":"ADDED","object":{}}', b'{"type":"BOOKMARK","object":{}}']


@pytest.mark.parametrize("line", [b"not json", b"[]", b'{"type":"ADDED"}', b'{"object":{}}'])
def test_a_malformed_event_is_a_pod_source_error(line: bytes) -> None:
    with pytest.raises(PodSourceUnavailableError):
        parse_event(line)


def test_an_error_event_with_code_410_means_list_again() -> None:
    error = status_error(
        {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"}
    )
    assert isinstance(error, ResourceExpiredError)
    other = status_error({"kind": "Status", "code": 500, "message": "etcd is down"})
    assert isinstance(other, KubernetesApiError)
    assert other.status == 500


def test_an_error_answer_keeps_the_status_message_and_retry_after() -> None:
    body = '{"kind":"Status","code":429,"message":"Too many requests, please try again later."}'
    error = error_from_response("list", 429, body, {"Retry-After": "7"})
    assert isinstance(error, KubernetesApiError)
    assert str(error) == "list pods: HTTP 429: Too many requests, please try again later."
    assert error.retry_after_seconds == 7.0
    assert isinstance(error_from_response("list", 410, body, None), ResourceExpiredError)
    assert "bad gateway" in str(error_from_response("watch", 502, b"<html>bad gateway</html>", None))


@pytest.mark.parametrize(
    ("attempt", "fraction", "seconds"),
    [
        (0, 0.9, 0.0),
        (1, 0.0, 0.5),
        (1, 1.0, 1.0),
        (2, 0.0, 1.0),
        (3, 0.0, 2.0),
        (9, 0.0, 15.0),
        (9, 1.0, 30.0),
    ],
)
def test_backoff_doubles_from_one_second_with_jitter_up_to_thirty(
    attempt: int, fraction: float, seconds: float
) -> None:
    assert backoff_seconds(WatchTiming(), attempt, fraction) == seconds
