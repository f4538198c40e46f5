"""The HTTP API: the original's endpoints plus /healthz, /readyz and /metrics.

Handlers parse, make one call, return. One plugin maps our errors to status codes with a JSON
body; anything else is a bug: 500 and a traceback in the log.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bottle
from prometheus_client import Counter
from prometheus_client.exposition import gzip_accepted

from netchecker_exporter.check import AgentVerdict, connectivity_result
from netchecker_exporter.errors import (
    AgentLimitError,
    InvalidQueryError,
    InvalidReportError,
    NetcheckerError,
    PodSourceUnavailableError,
    ReportTooLargeError,
    StoreUnavailableError,
    UnknownAgentError,
    UnknownNodeError,
)
from netchecker_exporter.http.defence import ApiCounters, refuse_malformed_path
from netchecker_exporter.http.health import readiness
from netchecker_exporter.http.history_json import history_to_json, parse_history_query
from netchecker_exporter.http.json_views import AgentListing, DiagnosisView
from netchecker_exporter.http.log_limiter import RefusalLogLimiter, summarize_left_out
from netchecker_exporter.http.shared_body import SharedBody
from netchecker_exporter.http.status_page import DEFAULT_LINKS, PageLinks, render_status_page
from netchecker_exporter.http.trailing_slash import add_trailing_slash_redirects
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.report import record_to_json
from netchecker_exporter.report_wire import decode_report
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import ReportStore

log = logging.getLogger(__name__)

ERROR_STATUS: dict[type[NetcheckerError], int] = {
    InvalidReportError: 400,
    InvalidQueryError: 400,
    UnknownNodeError: 404,
    UnknownAgentError: 404,
    ReportTooLargeError: 413,
    AgentLimitError: 429,
    PodSourceUnavailableError: 500,
    StoreUnavailableError: 503,
}
CHECK_ERROR_MESSAGE = "Error occurred while checking the agents. Details: {}"
JSON = "application/json"
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    # Node names and URLs on the page come from clients: no script may run, whatever slips through.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
}
EMPTY_OK_TYPE = "text/plain; charset=utf-8"
EMPTY_OK = {"status": 200, "headers": {"Content-Type": EMPTY_OK_TYPE}}


@dataclass(frozen=True, slots=True)
class ApiDependencies:
    """What the handlers need, passed in explicitly by the CLI."""

    store: ReportStore
    judge_agents_now: Callable[[], tuple[AgentVerdict, ...]]
    snapshot: Callable[[], Snapshot]
    reports_received: Counter
    max_report_bytes: int
    clock: Callable[[], float]
    metrics: MetricsExposition
    """Renders /metrics: the snapshot's cached bytes plus the registry's process and ingest metrics."""
    counters: ApiCounters
    max_probes_per_report: int
    max_stored_field_bytes: int
    page_links: PageLinks = DEFAULT_LINKS
    runbook_text: str | None = None
    """alerts/RUNBOOK.md, served at /runbook when the CLI found it."""
    report_accepted: Callable[[str], None] = lambda _podname: None
    """Called after each stored report, so the views refresh within a second (Reconciler.report_accepted)."""
    refusal_log: RefusalLogLimiter = field(default_factory=RefusalLogLimiter)
    """Which refusals get a log line (log_limiter.py)."""
    diagnosis_settings: DiagnosisSettings = field(default_factory=DiagnosisSettings)
    """The flapping rule's thresholds, which the history endpoint shows with the count."""


def json_response(payload: Any, status: int = 200) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(body=json.dumps(payload), status=status, headers={"Content-Type": JSON})


def shared_json_response(body: SharedBody) -> bottle.HTTPResponse:
    """A view rendered once (json_views.py), sent from its shared bytes, gzipped if the client asks."""
    gzip = gzip_accepted(bottle.request.get_header("Accept-Encoding", ""))
    content, headers = body.response(gzip=gzip)
    return bottle.HTTPResponse(body=content, headers={"Content-Type": JSON, **headers})


class ErrorMappingPlugin:
    """Turns our exceptions into JSON errors; connectivity_check keeps the original's format."""

    name = "error_mapping"
    api = 2

    def __init__(self, limiter: RefusalLogLimiter) -> None:
        self._limiter = limiter

    def apply(self, callback: Callable[..., Any], route: bottle.Route) -> Callable[..., Any]:
        check_format = bool(route.config.get("connectivity_check"))

        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return callback(*args, **kwargs)
            except NetcheckerError as error:
                return _error_response(error, check_format=check_format, limiter=self._limiter)
            except bottle.HTTPResponse:
                raise
            except Exception:
                log.exception("unexpected error in %s %s", bottle.request.method, bottle.request.path)
                return json_response({"error": "internal server error"}, 500)

        return wrapper


def _error_response(
    error: NetcheckerError, *, check_format: bool, limiter: RefusalLogLimiter
) -> bottle.HTTPResponse:
    status = next((code for kind, code in ERROR_STATUS.items() if isinstance(error, kind)), 500)
    _log_error(error, status, limiter)
    if check_format:
        message = CHECK_ERROR_MESSAGE.format(error)
        return json_response({"Message": message, "Absent": None, "Outdated": None}, 500)
    return json_response({"error": str(error)}, status)


def _log_error(error: NetcheckerError, status: int, limiter: RefusalLogLimiter) -> None:
    """Bad input (4xx) and store outages (503, one per report at ingest rate) would flood the log:
    the first few per client and reason are logged (at debug: the store logs its own state
    changes), then one summary per interval; netchecker_reports_refused_total counts every one."""
    request = bottle.request
    if status == 500:
        log.warning("%s %s -> %d: %s", request.method, request.path, status, error)
        return
    decision = limiter.decide((request.environ.get("REMOTE_ADDR", ""), error.reason))
    if decision.left_out:
        log.debug("refusals not logged in the last minute: %s", summarize_left_out(decision.left_out))
    if decision.log_this:
        log.debug("%s %s -> %d: %s", request.method, request.path, status, error)


def counted(counter: Counter, refused: Counter) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Count each POSTed report by outcome: accepted, rejected (bad input, over a limit) or failed
    (store); and each refusal by its reason."""

    @functools.cache  # looked up once, at the first accepted report: labels() per report is 1.4 us
    def accepted() -> Any:
        return counter.labels(result="accepted")

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = handler(*args, **kwargs)
            except NetcheckerError as error:
                failed = isinstance(error, StoreUnavailableError)
                counter.labels(result="failed" if failed else "rejected").inc()
                refused.labels(reason=error.reason).inc()
                raise
            accepted().inc()
            return result

        return wrapper

    return decorate


def read_report_body(environ: dict[str, Any], limit: int) -> bytes:
    """Read at most `limit` bytes; larger bodies are refused before they are parsed."""
    declared = int(environ.get("CONTENT_LENGTH") or -1)
    if declared > limit:
        raise ReportTooLargeError(f"report body of {declared} bytes exceeds the limit of {limit} bytes")
    body: bytes = environ["wsgi.input"].read(limit + 1 if declared < 0 else declared)
    if len(body) > limit:
        raise ReportTooLargeError(f"report body exceeds the limit of {limit} bytes")
    return body


def make_app(deps: ApiDependencies) -> bottle.Bottle:
    """Build the WSGI app; nothing is registered at import time."""
    app = bottle.Bottle()
    app.config["catchall"] = False  # our plugin logs and answers 500; bottle must not print HTML
    app.install(ErrorMappingPlugin(deps.refusal_log))
    app.default_error_handler = _json_error_page
    app.add_hook("before_request", refuse_malformed_path)
    _add_agent_routes(app, deps)
    _add_check_routes(app, deps)
    _add_health_routes(app, deps)
    _add_diagnosis_routes(app, deps)
    add_trailing_slash_redirects(app)
    return app


def _json_error_page(error: bottle.HTTPError) -> str:
    bottle.response.content_type = JSON
    return json.dumps({"error": f"{error.status_line}: {error.body}"})


def _add_agent_routes(app: bottle.Bottle, deps: ApiDependencies) -> None:
    @app.post("/api/v1/agents/<name>")
    @counted(deps.reports_received, deps.counters.refused)
    def post_report(name: str) -> str:
        body = read_report_body(bottle.request.environ, deps.max_report_bytes)
        report = decode_report(
            body, name, max_probes=deps.max_probes_per_report, max_field_bytes=deps.max_stored_field_bytes
        )
        deps.store.put_report(report, deps.clock())
        deps.counters.count_truncated(report)
        deps.report_accepted(report.podname)
        # The answer EMPTY_OK makes, on bottle's own response: an HTTPResponse built and applied
        # per report cost about 3 us.
        bottle.response.content_type = EMPTY_OK_TYPE
        return ""

    @app.get("/api/v1/agents/<name>")
    def get_record(name: str) -> bottle.HTTPResponse:
        record = deps.store.get_record(name)
        if record is None:
            raise UnknownAgentError(f"no report stored for agent {name[:253]!r}")
        return json_response(record_to_json(record))

    listing = AgentListing(deps.counters.records_skipped)

    @app.get("/api/v1/agents/")
    @app.get("/api/v1/agents")
    def list_records() -> bottle.HTTPResponse:
        return shared_json_response(listing.body(deps.store.list_records()))


def _add_check_routes(app: bottle.Bottle, deps: ApiDependencies) -> None:
    @app.get("/api/v1/connectivity_check", connectivity_check=True)
    def connectivity_check() -> bottle.HTTPResponse:
        result = connectivity_result(deps.judge_agents_now())
        body = {
            "Message": result.message,
            "Absent": list(result.absent) or None,
            "Outdated": list(result.outdated) or None,
        }
        return json_response(body, 200 if result.ok else 400)

    @app.get("/api/v1/ping")
    def ping() -> bottle.HTTPResponse:
        return bottle.HTTPResponse(**EMPTY_OK)

    @app.get("/metrics")
    def metrics() -> bottle.HTTPResponse:
        accept, encoding = (
            bottle.request.get_header("Accept", ""),
            bottle.request.get_header("Accept-Encoding", ""),
        )
        body, headers = deps.metrics.render(accept, encoding)
        return bottle.HTTPResponse(body=body, headers=headers)


def _add_health_routes(app: bottle.Bottle, deps: ApiDependencies) -> None:
    @app.get("/healthz")
    def healthz() -> bottle.HTTPResponse:
        return json_response({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> bottle.HTTPResponse:
        # The front answers both on its event loop (health.py); these serve the WSGI app alone.
        snapshot = deps.snapshot()
        status, payload = readiness(
            deps.store.health(), reconciled=snapshot.reconciled, pods_up=snapshot.pod_source.up
        )
        return json_response(payload, status)


def _add_diagnosis_routes(app: bottle.Bottle, deps: ApiDependencies) -> None:
    view = DiagnosisView()

    @app.get("/api/v1/diagnosis")
    def diagnosis() -> bottle.HTTPResponse:
        problems_only = bottle.request.query.get("problems") in {"1", "true"}
        return shared_json_response(view.body(deps.snapshot().diagnosis, problems_only=problems_only))

    @app.get("/api/v1/diagnosis/history")
    def diagnosis_history() -> bottle.HTTPResponse:
        node = parse_history_query(bottle.request.environ.get("QUERY_STRING", ""))
        return json_response(history_to_json(deps.snapshot(), node, deps.diagnosis_settings))

    @app.get("/")
    def status_page() -> bottle.HTTPResponse:
        body = render_status_page(deps.snapshot(), now=deps.clock(), links=deps.page_links)
        return bottle.HTTPResponse(body=body, headers=PAGE_HEADERS)

    @app.get("/runbook")
    def runbook() -> bottle.HTTPResponse:
        if deps.runbook_text is None:
            raise bottle.HTTPError(
                404, "no runbook here: see alerts/RUNBOOK.md in the source, or set -runbook-url"
            )
        return bottle.HTTPResponse(
            body=deps.runbook_text, headers={"Content-Type": "text/markdown; charset=utf-8"}
        )
