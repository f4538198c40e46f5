"""Pod source `kubernetes`: agent pods from the API server by list + watch in a background thread,
or by a list every check interval while RBAC forbids the watch (sync_mode).

The only module that imports the official `kubernetes` client.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException, load_kube_config
from kubernetes.config.incluster_config import InClusterConfigLoader

from netchecker_exporter.check import ExpectedPod
from netchecker_exporter.errors import ConfigError, PodSourceUnavailableError
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.pods.cluster_access import ClusterAccess
from netchecker_exporter.pods.kube_metrics import KubernetesClientMetrics
from netchecker_exporter.pods.kube_protocol import (
    AUTH_FAILURES,
    HTTP_FORBIDDEN,
    KubernetesApiError,
    ResourceExpiredError,
    WatchDroppedError,
    auth_hint,
    error_from_response,
    event_lines,
    list_mode_hint,
    parse_event,
    status_error,
)
from netchecker_exporter.pods.open_response import OpenResponse
from netchecker_exporter.pods.pod_cache import PodCache, resource_version_of
from netchecker_exporter.pods.sync_mode import Refusal, SyncModeState
from netchecker_exporter.pods.watch_timing import WatchTiming, backoff_seconds
from netchecker_exporter.report import AgentRecord
from netchecker_exporter.settings import KubernetesSettings

log = logging.getLogger(__name__)


def connect(access: ClusterAccess, environ: Mapping[str, str]) -> ApiClient:
    """An ApiClient for `access`, touching no global state; ConfigError when it cannot be built."""
    configuration = Configuration()
    try:
        if access.kubeconfig is None:
            loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
                access.token_path, access.ca_path, environ=environ
            )
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
        else:
            load_kube_config(  # type: ignore[no-untyped-call]
                access.kubeconfig, client_configuration=configuration, persist_config=False
            )
    except (ConfigException, OSError, ValueError) as error:
        raise ConfigError([f"Kubernetes access via {access.reason}: {error}"]) from error
    # Our loop retries with backoff; urllib3's own retries would multiply every read timeout.
    configuration.retries = 0
    return ApiClient(configuration)


class KubernetesPodSource:
    """Keeps the labelled agent pods mirrored through list + watch (or a list every check interval
    while the watch is forbidden); expected_pods() reads the mirror."""

    kind = "kubernetes"
    reporters_are_expected = False

    def __init__(
        self,
        api_client: ApiClient,
        settings: KubernetesSettings,
        *,
        timing: WatchTiming | None = None,
        metrics: KubernetesClientMetrics | None = None,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._api_client = api_client
        self._namespace = settings.namespace
        self._selector = settings.agent_selector
        self._timing = timing or WatchTiming()
        self._metrics = metrics or KubernetesClientMetrics()
        self._random = random_fraction
        self._cache = PodCache(settings.startup_grace_seconds)
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._open = OpenResponse(self._stop)
        self._resource_version: str | None = None
        self._failures = 0
        self._expiries = 0
        self._up = False
        self._last_sync: float | None = None
        self._last_error = "the first list has not completed yet"
        self._sync_mode = SyncModeState(
            self._timing.list_interval_seconds, self._timing.watch_probe_every_lists
        )

    @property
    def scope(self) -> str:
        return f"namespace {self._namespace}" if self._namespace else "all namespaces"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kubernetes-pods", daemon=True)
        self._thread.start()

    def wait_until_synced(self, timeout_seconds: float) -> bool:
        """True once the first full list is in (for start-up logs and tests)."""
        return self._synced.wait(timeout_seconds)

    def expected_pods(self, records: Mapping[str, AgentRecord]) -> tuple[ExpectedPod, ...]:
        if not self._synced.is_set():
            raise PodSourceUnavailableError(f"Kubernetes agent pods not listed yet: {self._last_error}")
        return self._cache.expected_pods()

    def health(self) -> PodSourceHealth:
        """Up while the last call succeeded; synced when the last list or watch event came in."""
        with self._lock:
            return PodSourceHealth(up=self._up, last_sync_timestamp=self._last_sync)

    def close(self) -> None:
        self._stop.set()
        self._open.set(None, shutdown_previous=True)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._api_client.close()  # type: ignore[no-untyped-call]

    def _run(self) -> None:
        log.info("watching pods labelled %r in %s", self._selector, self.scope)
        while not self._stop.is_set():
            try:
                self._list_and_watch()
            except ResourceExpiredError as error:
                self._expiries += 1
                self._metrics.watch_restarts.labels(reason="expired").inc()
                log.info("%s; listing again", error)
                self._resource_version = None
                self._pause(self._backoff_seconds(self._expiries - 1))
            except WatchDroppedError as error:
                self._metrics.watch_restarts.labels(reason="dropped").inc()
                log.info("%s; resuming", error)
                self._pause(self._backoff_seconds(1))
            except PodSourceUnavailableError as error:
                self._record_failure(error)
            except Exception as error:  # a bug must not silently kill the thread: log, count, retry
                log.exception("unexpected error in the Kubernetes pod watch")
                self._record_failure(PodSourceUnavailableError(f"unexpected error: {error!r}"))

    def _list_and_watch(self) -> None:
        """One round: list if we must (first, after 410, or in list mode), then watch if we may."""
        if self._resource_version is None or self._sync_mode.listing:
            self._relist()
        if not self._sync_mode.watch_due():
            self._pause(self._sync_mode.seconds_to_next_list(time.monotonic()))
            return
        try:
            self._watch()
        except KubernetesApiError as error:
            if error.verb != "watch" or error.status != HTTP_FORBIDDEN:
                raise
            self._list_instead(error)

    def _list_instead(self, error: KubernetesApiError) -> None:
        """The watch is forbidden (kubespray's role): list every interval, say so once, as a metric too."""
        interval = self._sync_mode.list_interval_seconds
        refusal = self._sync_mode.watch_forbidden()
        if refusal is Refusal.FIRST:
            log.info("Kubernetes API refused to watch pods (%s); trying again in %gs before "
                     "falling back to a list every %gs", error.message, interval, interval)  # fmt: skip
            self._pause(interval)
            return
        if refusal is Refusal.CONFIRMED:
            probe = self._sync_mode.probe_seconds
            log.warning("%s", list_mode_hint(error, self._namespace, interval, probe))
            self._metrics.show_sync_mode(self._sync_mode.mode)
            return  # list at once: the pods are one interval old already
        log.debug("watch of pods still forbidden (%s); listing on", error.message)
        self._pause(self._sync_mode.seconds_to_next_list(time.monotonic()))

    def _relist(self) -> None:
        started = time.monotonic()
        items, version, pages = self._list_all()
        self._sync_mode.listed(started, time.monotonic())
        expected = self._cache.replace(items)
        self._resource_version = version
        self._expiries = 0
        self._metrics.relists.inc()
        self._mark_up(synced=True)
        self._synced.set()
        log.log(
            logging.DEBUG if self._sync_mode.listing else logging.INFO,
            "listed %d agent pods in %s (%d expected) in %.2fs, %d page(s), resourceVersion %s",
            len(items), self.scope, expected, time.monotonic() - started, pages, version,
        )  # fmt: skip

    def _list_all(self) -> tuple[list[dict[str, Any]], str, int]:
        """Every page of one consistent list; a 410 on a continue token restarts it from scratch."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        pages = 0
        while True:
            page = self._list_page(token)
            pages += 1
            items += page.get("items") or []
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") or None
            if token is None:
                return items, str(metadata.get("resourceVersion") or ""), pages

    def _list_page(self, token: str | None) -> dict[str, Any]:
        timeout = (self._timing.connect_timeout_seconds, self._timing.request_timeout_seconds)
        query = {"limit": self._timing.page_size} | ({"continue": token} if token else {})
        response = self._request("list", query, timeout)
        try:
            page = json.loads(response.data)
        except (ValueError, urllib3.exceptions.HTTPError, OSError) as error:
            raise PodSourceUnavailableError(f"list pods: unreadable answer: {error}") from error
        finally:
            self._open.set(None)
        if not isinstance(page, dict):
            raise PodSourceUnavailableError("list pods: the answer is not a JSON object")
        return page

    def _watch(self) -> None:
        timeout_seconds = int(self._timing.watch_timeout_seconds * (1 + self._random()))
        query: dict[str, str | int | bool] = {"watch": True, "allowWatchBookmarks": True}
        if self._resource_version:
            query["resourceVersion"] = self._resource_version
        query["timeoutSeconds"] = timeout_seconds
        timeout = (self._timing.connect_timeout_seconds, self._timing.watch_idle_seconds)
        response = self._request("watch", query, timeout)
        self._mark_up(synced=False)
        if self._sync_mode.watch_opened():
            log.info("watch of pods allowed again: watching instead of listing every %gs",
                     self._sync_mode.list_interval_seconds)  # fmt: skip
            self._metrics.show_sync_mode(self._sync_mode.mode)
        try:
            for line in event_lines(response.stream(amt=None, decode_content=True)):
                self._apply(line)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            if not self._stop.is_set():
                where = f"resourceVersion {self._resource_version}"
                raise WatchDroppedError(f"watch broke off at {where}: {error}") from error
        finally:
            self._open.set(None)
        self._metrics.watch_restarts.labels(reason="timeout").inc()

    def _request(
        self, verb: str, query: Mapping[str, str | int | bool], timeout: tuple[float, float]
    ) -> urllib3.BaseHTTPResponse:
        """One list or watch of the agent pods on the right scope, as plain JSON on the client's
        ApiClient (its auth, TLS and pool; not CoreV1Api, whose import alone costs about half a
        second of CPU for models we never build). Its raw response is kept so close() can cut it."""
        path = (
            f"/api/v1/namespaces/{quote(self._namespace, safe='')}/pods"
            if self._namespace
            else "/api/v1/pods"
        )
        params = [("labelSelector", self._selector), *query.items()]
        try:
            serialized = self._api_client.param_serialize(
                method="GET", resource_path=path, query_params=params,
                header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
            )  # fmt: skip
            reply = self._api_client.call_api(*serialized, _request_timeout=timeout)
            if not 200 <= reply.status <= 299:
                body = reply.read()  # type: ignore[no-untyped-call]
                raise error_from_response(verb, int(reply.status), body, reply.headers)
        except ApiException as error:  # the client's own refusals, e.g. a 429 with Retry-After
            failure = error_from_response(verb, int(error.status or 0), error.body, error.headers)
            self._count_request(verb, "expired" if isinstance(failure, ResourceExpiredError) else "error")
            raise failure from error
        except (KubernetesApiError, ResourceExpiredError) as failure:
            self._count_request(verb, "expired" if isinstance(failure, ResourceExpiredError) else "error")
            raise
        except (urllib3.exceptions.HTTPError, OSError) as error:
            self._count_request(verb, "error")
            raise PodSourceUnavailableError(f"{verb} pods: {error}") from error
        self._count_request(verb, "success")
        response: urllib3.BaseHTTPResponse = reply.response
        self._open.set(response)
        return response

    def _apply(self, line: bytes) -> None:
        kind, obj = parse_event(line)
        if kind == "ERROR":
            raise status_error(obj)
        if kind in ("ADDED", "MODIFIED"):
            self._cache.put(obj)
        elif kind == "DELETED":
            self._cache.remove(obj)
        self._resource_version = resource_version_of(obj) or self._resource_version
        with self._lock:
            self._last_sync = time.time()

    def _count_request(self, verb: str, result: str) -> None:
        self._metrics.requests.labels(verb=verb, result=result).inc()

    def _mark_up(self, *, synced: bool) -> None:
        """The API answered; `synced`: a full list came in (a watch opening is not a sync)."""
        if self._failures:
            log.info("Kubernetes API reachable again after %d failed attempt(s)", self._failures)
        self._failures = 0
        with self._lock:
            self._up = True
            if synced:
                self._last_sync = time.time()

    def _record_failure(self, error: PodSourceUnavailableError) -> None:
        self._failures += 1
        with self._lock:
            self._up = False
            self._last_error = str(error)
        retry_after = error.retry_after_seconds if isinstance(error, KubernetesApiError) else 0.0
        delay = max(self._backoff_seconds(self._failures), min(retry_after, self._timing.backoff_max_seconds))
        if isinstance(error, KubernetesApiError) and error.status in AUTH_FAILURES:
            self._log_auth_failure(error, delay)
        else:
            known = len(self._cache.expected_pods())
            log.warning(
                "Kubernetes API: %s; keeping the %d pods known, retrying in %.1fs (attempt %d)",
                error, known, delay, self._failures,
            )  # fmt: skip
        self._pause(delay)

    def _log_auth_failure(self, error: KubernetesApiError, delay: float) -> None:
        """The RBAC hint at ERROR, except for one refusal right after a sync: a restarted API server
        answers 403 for about half a second before its RBAC is loaded (seen on a real one)."""
        if self._synced.is_set() and self._failures == 1:
            log.warning("Kubernetes API: %s, right after a sync (RBAC may still be loading after an "
                        "API server restart); retrying in %.1fs", error, delay)  # fmt: skip
            return
        log.error("%s; retrying in %.1fs", auth_hint(error, self._namespace), delay)

    def _backoff_seconds(self, attempt: int) -> float:
        return backoff_seconds(self._timing, attempt, self._random())

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)
