"""What the API does against hostile input, apart from validating reports (report_values.py).

Malformed paths are refused before routing; refusals are counted by reason (a stored record
that cannot be rendered is left out of the agent list: json_views.py).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import bottle
from prometheus_client import CollectorRegistry, Counter

from netchecker_exporter.report import AgentReport
from netchecker_exporter.stored_fields import TRUNCATABLE_FIELDS

log = logging.getLogger(__name__)

REFUSAL_REASONS = ("invalid", "too_large", "agent_limit", "unlisted_limit", "metrics_budget", "store_busy",
                   "store_unavailable")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ApiCounters:
    """Why reports were refused, records the agent list could not show, reports kept in part."""

    refused: Counter
    records_skipped: Counter
    truncated: Counter | None = None

    @classmethod
    def register(cls, registry: CollectorRegistry) -> ApiCounters:
        refused = Counter(
            "netchecker_reports_refused",
            "Reports refused, by reason: invalid, too_large, agent_limit, unlisted_limit, "
            "metrics_budget (4xx), store_busy, store_unavailable (503).",
            ["reason"],
            registry=registry,
        )
        for reason in REFUSAL_REASONS:
            refused.labels(reason=reason)
        skipped = Counter(
            "netchecker_api_records_skipped",
            "Stored records GET /api/v1/agents/ could not render and left out (each version once).",
            registry=registry,
        )
        truncated = Counter(
            "netchecker_report_truncated",
            "Reports stored with a field kept in part (over -max-stored-field-bytes), by field.",
            ["field"],
            registry=registry,
        )
        for field in TRUNCATABLE_FIELDS:
            truncated.labels(field=field)
        return cls(refused, skipped, truncated)

    def count_truncated(self, report: AgentReport) -> None:
        """After a stored report: +1 per field of it that was kept in part."""
        for field in report.truncated:
            if self.truncated is not None:
                self.truncated.labels(field=field).inc()


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_REPLACEMENT = "\ufffd"


def refuse_malformed_path() -> None:
    """400 for a path that is not valid UTF-8 once percent-decoded, or has a malformed escape.

    The server percent-decodes PATH_INFO (as latin-1 bytes) and bottle then decodes it as UTF-8
    ignoring errors: /api/v1/agents/%ff would have become /api/v1/agents/, another route.
    Runs before routing, for every route.
    """
    environ = bottle.request.environ
    raw = environ.get("bottle.raw_path", environ.get("PATH_INFO", ""))
    # Behind granian there is no raw URI: it decoded the path itself, leaving a malformed escape
    # as it was and turning invalid UTF-8 into U+FFFD, so the decoded path tells both apart.
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or raw
    try:
        decoded = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise _bad_request("the path is not valid UTF-8 once percent-decoded") from None
    if _REPLACEMENT in decoded:
        raise _bad_request("the path is not valid UTF-8 once percent-decoded")
    if _BAD_ESCAPE.search(uri.partition("?")[0]):
        raise _bad_request("the path has a malformed percent-escape")


def _bad_request(message: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(
        body=json.dumps({"error": message}), status=400, headers={"Content-Type": "application/json"}
    )
