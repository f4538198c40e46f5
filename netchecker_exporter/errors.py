"""Our own error types: edges wrap library errors in these; the API maps them to status codes."""


class NetcheckerError(Exception):
    """Base of every error this package raises on purpose."""

    reason = "error"
    """Why a report was refused, as netchecker_reports_refused_total's `reason` label."""


class InvalidReportError(NetcheckerError):
    """The agent's payload or pod name is not acceptable (HTTP 400)."""

    reason = "invalid"


class ReportTooLargeError(NetcheckerError):
    """The request body exceeds -max-report-bytes (HTTP 413)."""

    reason = "too_large"


class AgentLimitError(NetcheckerError):
    """A new agent name would exceed -max-agents or -max-unlisted-agents (HTTP 429)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class MetricsBudgetError(AgentLimitError):
    """The report would take the stored agents' estimated /metrics bytes over -max-metrics-bytes
    (HTTP 429)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="metrics_budget")


class UnknownAgentError(NetcheckerError):
    """No record is stored for that pod (HTTP 404)."""


class InvalidQueryError(NetcheckerError):
    """A query string the endpoint does not accept (HTTP 400)."""


class UnknownNodeError(NetcheckerError):
    """No node of that name was ever judged (HTTP 404)."""


class StoreUnavailableError(NetcheckerError):
    """The report store cannot be read or written right now (HTTP 503)."""

    reason = "store_unavailable"


class StoreBusyError(StoreUnavailableError):
    """-max-pending-writes reports already wait on the store: refused at once (HTTP 503)."""

    reason = "store_busy"


class PodSourceUnavailableError(NetcheckerError):
    """The list of expected agent pods cannot be read right now."""


class ConfigError(NetcheckerError):
    """The configuration is invalid; the message lists every problem (exit code 2)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
