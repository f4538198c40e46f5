"""The few REST calls the scenarios make as the test admin: server-side apply, pods, status, tokens.

Plain HTTP with requests, so what is sent and answered is exactly what the API server saw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

FIELD_MANAGER = "netchecker-e2e"
Object = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    path: str
    """e.g. /apis/apps/v1 (the group-version prefix)."""
    plural: str
    namespaced: bool


class KubeClient:
    """Calls against one API server with one bearer token; errors raise with the Status body."""

    def __init__(self, url: str, token: str, ca: Path) -> None:
        self.url = url
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._ca = str(ca)  # per request: a session's verify loses to $REQUESTS_CA_BUNDLE
        self._resources: dict[tuple[str, str], Resource] = {}

    def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        reply = self._session.request(method, self.url + path, timeout=30, verify=self._ca, **kwargs)
        if reply.status_code not in expect:
            raise AssertionError(f"{method} {path}: HTTP {reply.status_code}: {reply.text[:2000]}")
        return reply.json() if reply.content else None

    def resource(self, api_version: str, kind: str) -> Resource:
        """The REST path of a kind, from the server's own discovery document."""
        if (api_version, kind) not in self._resources:
            prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            for entry in self.call("GET", prefix)["resources"]:
                if "/" not in entry["name"]:
                    self._resources[(api_version, entry["kind"])] = Resource(
                        prefix, entry["name"], entry["namespaced"]
                    )
        return self._resources[(api_version, kind)]

    def object_path(self, obj: Object) -> str:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        metadata = obj["metadata"]
        scope = f"/namespaces/{metadata['namespace']}" if resource.namespaced else ""
        return f"{resource.path}{scope}/{resource.plural}/{metadata['name']}"

    def apply(self, obj: Object, *, dry_run: bool = False, expect: tuple[int, ...] = (200, 201)) -> Object:
        """Server-side apply (PATCH application/apply-patch+yaml), as `kubectl apply --server-side`.

        Strict field validation: an unknown or duplicated field is an error, not a warning.
        """
        params = {"fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        headers = {"Content-Type": "application/apply-patch+yaml"}
        result: Object = self.call(
            "PATCH",
            self.object_path(obj),
            params=params,
            headers=headers,
            data=json.dumps(obj),
            expect=expect,
        )
        return result

    def delete(
        self, obj: Object, *, grace_seconds: int | None = None, expect: tuple[int, ...] = (200, 202)
    ) -> Any:
        body = {} if grace_seconds is None else {"gracePeriodSeconds": grace_seconds}
        return self.call("DELETE", self.object_path(obj), json=body, expect=expect)

    def get(self, obj: Object, *, expect: tuple[int, ...] = (200,)) -> Any:
        return self.call("GET", self.object_path(obj), expect=expect)

    def create_pod(self, pod: Object) -> Object:
        namespace = pod["metadata"]["namespace"]
        result: Object = self.call("POST", f"/api/v1/namespaces/{namespace}/pods", json=pod)
        return result

    def patch_pod(self, namespace: str, name: str, patch: Object, *, subresource: str = "") -> Object:
        path = f"/api/v1/namespaces/{namespace}/pods/{name}" + (f"/{subresource}" if subresource else "")
        headers = {"Content-Type": "application/merge-patch+json"}
        result: Object = self.call("PATCH", path, headers=headers, data=json.dumps(patch))
        return result

    def watch_events(self, namespace: str, selector: str, resource_version: str) -> list[tuple[str, str]]:
        """(type, pod name) of the pod watch events after `resource_version`, for one second."""
        params = {"watch": "true", "labelSelector": selector, "resourceVersion": resource_version,
                  "timeoutSeconds": "1"}  # fmt: skip
        reply = self._session.get(
            f"{self.url}/api/v1/namespaces/{namespace}/pods", params=params, timeout=30, verify=self._ca
        )
        events = [json.loads(line) for line in reply.text.splitlines() if line.strip()]
        return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]

    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A bound token for the ServiceAccount through the TokenRequest API."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": seconds}}  # fmt: skip
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        return str(self.call("POST", path, json=body)["status"]["token"])


def objects_of_kind(objects: list[Object], *kinds: str) -> list[Object]:
    return [obj for obj in objects if obj["kind"] in kinds]
