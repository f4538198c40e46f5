"""The original's trailing-slash redirects: `/metrics/` and the like answer 301 (GET) or 307
(other methods) to the path without the slash, as httprouter's RedirectTrailingSlash did.

Only for the original's own routes (COMPAT.md); our additions (/healthz, /api/v1/diagnosis) keep
answering 404 with a slash, as nothing out there relies on them with one.
"""

from __future__ import annotations

import string
from urllib.parse import quote

import bottle

ORIGINAL_ROUTES = (
    ("GET", "/api/v1/agents/<name>"),
    ("POST", "/api/v1/agents/<name>"),
    ("GET", "/api/v1/connectivity_check"),
    ("GET", "/api/v1/ping"),
    ("GET", "/metrics"),
)
"""(method, route) of the original's router with a slash-less path (COMPAT.md); its
`/api/v1/agents/` already ends in one."""
_SAFE_IN_PATH = "/:@!$&'()*+,;=-._~"
_SAFE_IN_QUERY = string.punctuation
"""The query as sent; only what cannot be in a header (controls, spaces, non-ASCII) is escaped."""


def redirect_code(method: str) -> int:
    """httprouter (the 2017 version the original vendored): 301 for GET, 307 for the rest, so a
    POST is repeated as a POST with its body. HEAD is GET here, as bottle serves it."""
    return 301 if method in {"GET", "HEAD"} else 307


def add_trailing_slash_redirects(app: bottle.Bottle) -> None:
    """Route `<path>/` of each original route to a redirect to `<path>`."""
    for method, route in ORIGINAL_ROUTES:
        app.route(route + "/", method=method, callback=_redirect_without_slash)


def _redirect_without_slash(**_params: str) -> bottle.HTTPResponse:
    request = bottle.request
    # Percent-encoded again: the decoded path could hold a CR or LF, which must not reach a header.
    location = quote(request.path[:-1], safe=_SAFE_IN_PATH)
    query = request.environ.get("QUERY_STRING", "")
    if query:
        location += "?" + quote(query, safe=_SAFE_IN_QUERY)
    return bottle.HTTPResponse(status=redirect_code(request.method), headers={"Location": location})
