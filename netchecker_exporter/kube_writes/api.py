"""The Kubernetes calls of the writers, on plain JSON: Events, node status patches, the node list.

Errors come out as KubeWriteError with the verb and resource an RBAC grant would name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from netchecker_exporter.errors import NetcheckerError
from netchecker_exporter.kube_writes.condition_plan import OWN_TYPES, Condition

REQUEST_TIMEOUT_SECONDS = 10.0
LIST_PAGE = 500
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


class KubeWriteError(NetcheckerError):
    def __init__(self, verb: str, resource: str, status: int, message: str) -> None:
        super().__init__(f"{verb} {resource}: HTTP {status}: {message}")
        self.verb = verb
        self.resource = resource
        self.status = status


@dataclass(frozen=True, slots=True)
class Grant:
    """What an RBAC rule must allow for one kind of write (docs/events.md)."""

    api_group: str
    resource: str
    verbs: tuple[str, ...]
    scope: str


CLUSTER_WIDE = "cluster-wide (ClusterRole + ClusterRoleBinding)"
NODE_CONDITIONS_RBAC = "cluster-wide (config/kubernetes/node-conditions)"
EVENTS_GRANT = Grant("events.k8s.io", "events", ("create", "patch"), CLUSTER_WIDE)
NODES_GRANT = Grant("", "nodes/status", ("patch",), NODE_CONDITIONS_RBAC)
NODES_LIST_GRANT = Grant("", "nodes", ("get", "list"), NODE_CONDITIONS_RBAC)
IN_LEASE_NAMESPACE = "in the Lease's namespace (Role + RoleBinding)"
LEASES_GRANT = Grant("coordination.k8s.io", "leases", ("get", "create", "update"), IN_LEASE_NAMESPACE)


def grant_hint(error: KubeWriteError, grant: Grant, what: str) -> str:
    verbs = ", ".join(f'"{v}"' for v in grant.verbs)
    return (
        f"Kubernetes API forbids us to {error.verb} {error.resource} ({error}): grant the exporter's "
        f'service account RBAC verbs [{verbs}] on resource "{grant.resource}" (apiGroup '
        f'"{grant.api_group}") {grant.scope}; until then {what}'
    )


def _timestamp(text: object) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class KubeRest:
    """Plain JSON requests on the client's ApiClient (its auth, TLS and timeouts).

    Not the typed API classes: they validate bodies into models and write MicroTimes without
    their microseconds when those are zero, which the API server refuses (docs/events.md).
    """

    def __init__(self, api_client: ApiClient) -> None:
        self._client = api_client

    def request(  # noqa: PLR0913 (keyword-only: the parts of one request)
        self,
        verb: str,
        resource: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            serialized = self._client.param_serialize(
                method=method, resource_path=path, query_params=list((query or {}).items()),
                header_params=headers, body=body, auth_settings=["BearerToken"],
            )  # fmt: skip
            reply = self._client.call_api(*serialized, _request_timeout=REQUEST_TIMEOUT_SECONDS)
            data: bytes = reply.read()  # type: ignore[no-untyped-call]
        except ApiException as error:
            raise KubeWriteError(verb, resource, error.status or 0, str(error.reason)) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise KubeWriteError(verb, resource, 0, f"API server unreachable: {error}") from error
        if reply.status >= 400:
            raise KubeWriteError(verb, resource, reply.status, _message(data))
        answer: dict[str, Any] = json.loads(data) if data else {}
        return answer


class KubeWriteApi:
    def __init__(self, rest: KubeRest) -> None:
        self._rest = rest

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
        self._rest.request("create", "events", "POST", path, body=body)

    def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events/{name}"
        self._rest.request("patch", "events", "PATCH", path, body=patch, content_type=MERGE_PATCH)

    def patch_node_status(self, node: str, patch: dict[str, Any]) -> None:
        """A strategic merge patch: conditions merge by type, the kubelet's stay as they are."""
        path = f"/api/v1/nodes/{node}/status"
        self._rest.request("patch", "nodes/status", "PATCH", path, body=patch, content_type=STRATEGIC_PATCH)

    def node_conditions(self) -> Iterator[tuple[str, dict[str, Condition], float]]:
        """(node, its conditions by type, our latest heartbeat) for every Node, a page at a time."""
        token = ""
        while True:
            query = {"limit": str(LIST_PAGE), **({"continue": token} if token else {})}
            page = self._rest.request("list", "nodes", "GET", "/api/v1/nodes", query=query)
            for node in page.get("items", []):
                yield _conditions_of(node)
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return


def _message(data: bytes) -> str:
    """The Status object's message, else the start of whatever answered."""
    try:
        status = json.loads(data)
    except ValueError:
        return data[:200].decode(errors="replace")
    return str(status.get("message") if isinstance(status, dict) else status)[:500]


def _conditions_of(node: dict[str, Any]) -> tuple[str, dict[str, Condition], float]:
    found: dict[str, Condition] = {}
    latest = 0.0
    for item in (node.get("status") or {}).get("conditions") or []:
        kind = str(item.get("type", ""))
        found[kind] = Condition(
            kind,
            str(item.get("status", "")),
            str(item.get("reason", "")),
            str(item.get("message", "")),
            _timestamp(item.get("lastTransitionTime")),
        )
        if kind in OWN_TYPES:
            latest = max(latest, _timestamp(item.get("lastHeartbeatTime")))
    return str(node["metadata"]["name"]), found, latest
