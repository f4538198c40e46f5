"""Our own error types: edges wrap library errors in these; the API maps them to status codes."""


class NetcheckerError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidReportError(NetcheckerError):
    """The agent's payload or pod name is not acceptable (HTTP 400)."""


class ReportTooLargeError(NetcheckerError):
    """The request body exceeds -max-report-bytes (HTTP 413)."""


class UnknownAgentError(NetcheckerError):
    """No record is stored for that pod (HTTP 404)."""


class StoreUnavailableError(NetcheckerError):
    """The report store cannot be read or written right now (HTTP 503)."""


class PodSourceUnavailableError(NetcheckerError):
    """The list of expected agent pods cannot be read right now."""


class ConfigError(NetcheckerError):
    """The configuration is invalid; the message lists every problem (exit code 2)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
