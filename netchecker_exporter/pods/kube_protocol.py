"""The parts of the Kubernetes REST protocol we read ourselves: watch event lines and Status errors.

Pure: no client, no sockets. Pods stay plain JSON dicts, never the client's strict models.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from netchecker_exporter.errors import NetcheckerError, PodSourceUnavailableError

HTTP_FORBIDDEN = 403
HTTP_GONE = 410
AUTH_FAILURES = frozenset({401, HTTP_FORBIDDEN})


class ResourceExpiredError(NetcheckerError):
    """410 Gone: our resourceVersion or continue token is too old; only a fresh list helps."""


class WatchDroppedError(NetcheckerError):
    """An established watch broke off (connection cut, idle timeout): resume it where it stopped."""


class KubernetesApiError(PodSourceUnavailableError):
    """The API server answered a pods request with an error status."""

    def __init__(self, verb: str, status: int, message: str, retry_after_seconds: float = 0.0) -> None:
        super().__init__(f"{verb} pods: HTTP {status}: {message}")
        self.verb = verb
        self.status = status
        self.message = message
        self.retry_after_seconds = retry_after_seconds


def event_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The watch stream's newline-delimited JSON events, each as soon as its line is complete."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        yield from (line for line in lines if line.strip())


def parse_event(line: bytes) -> tuple[str, dict[str, Any]]:
    """(type, object) of one watch event line."""
    try:
        event = json.loads(line)
    except ValueError as error:
        raise PodSourceUnavailableError(f"watch pods: unreadable event: {error}") from error
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict) or "type" not in event:
        raise PodSourceUnavailableError(f"watch pods: malformed event: {line[:200]!r}")
    return str(event["type"]), event["object"]


def status_error(status: Mapping[str, Any]) -> NetcheckerError:
    """A watch ERROR event carries a Status object: 410 means relist, anything else is a failure."""
    code = status.get("code")
    message = str(status.get("message") or status.get("reason") or "no message")
    if code == HTTP_GONE:
        return ResourceExpiredError(f"watch pods: {message}")
    return KubernetesApiError("watch", code if isinstance(code, int) else 0, message)


def error_from_response(
    verb: str, status: int, body: str | bytes | None, headers: Mapping[str, str] | None
) -> NetcheckerError:
    """Our error for an HTTP error answer, with the Status message and any Retry-After."""
    message = status_message(body)
    if status == HTTP_GONE:
        return ResourceExpiredError(f"{verb} pods: {message}")
    retry_after = str((headers or {}).get("Retry-After", ""))
    return KubernetesApiError(verb, status, message, float(retry_after) if retry_after.isdigit() else 0.0)


def status_message(body: str | bytes | None) -> str:
    """The `message` of a Kubernetes Status body, else the body itself, shortened."""
    try:
        status = json.loads(body) if body else None
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    text = body.decode(errors="replace") if isinstance(body, bytes) else body or "no message"
    return text.strip()[:200]


def auth_hint(error: KubernetesApiError, namespace: str | None) -> str:
    """What an operator must fix after a 401 or 403: the credentials, or the RBAC grant we lack."""
    if error.status == 401:
        return (
            f"Kubernetes API rejected our credentials ({error}): check the service-account token "
            "or the kubeconfig user"
        )
    return (
        f"Kubernetes API forbids us to {error.verb} pods ({error.message}): grant the exporter's "
        f'service account RBAC verbs ["list", "watch"] on resource "pods" (apiGroup "") '
        f"{grant_scope(namespace)}"
    )


def list_mode_hint(error: KubernetesApiError, namespace: str | None, interval: float, probe: float) -> str:
    """Why we list every interval instead of watching, and the one grant that would end it."""
    return (
        f"Kubernetes API forbids us to watch pods ({error.message}): listing them every {interval:g}s "
        f"instead, as the original server did (kubespray's role grants pods: get, list). Grant verb "
        f'"watch" on resource "pods" (apiGroup "") {grant_scope(namespace)} to watch again: it is '
        f"tried every {probe:g}s"
    )


def grant_scope(namespace: str | None) -> str:
    """Where the grant must be: the namespace we watch, or the whole cluster."""
    if namespace:
        return f"in namespace {namespace} (Role + RoleBinding)"
    return "cluster-wide (ClusterRole + ClusterRoleBinding)"
