"""The metrics wing: the family table, the /metrics body and its estimate.

docs/architecture.md#metrics names its modules; these are the types the rest of the house uses.
"""

from netchecker_exporter.metrics.export_estimate import ExportEstimate
from netchecker_exporter.metrics.exposition import MetricsExposition

__all__ = ["ExportEstimate", "MetricsExposition"]
