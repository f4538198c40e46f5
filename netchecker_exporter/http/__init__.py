"""The HTTP wing: the granian front, the bottle routes and the views they serve.

docs/architecture.md#http names its modules; these are the types the rest of the house uses.
"""

from netchecker_exporter.http.defence import ApiCounters
from netchecker_exporter.http.front import FrontSettings, GranianFront
from netchecker_exporter.http.health import HealthEndpoints
from netchecker_exporter.http.routes import ApiDependencies, make_app
from netchecker_exporter.http.status_page import PageLinks

__all__ = [
    "ApiCounters",
    "ApiDependencies",
    "FrontSettings",
    "GranianFront",
    "HealthEndpoints",
    "PageLinks",
    "make_app",
]
