"""The diagnosis wing: pure verdicts per node and per probed URL, and their history.

docs/architecture.md#diagnosis names its modules; these are the types the rest of the house uses.
"""

from netchecker_exporter.diagnosis.checks import NodeVerdict
from netchecker_exporter.diagnosis.history import History, HistoryLimits
from netchecker_exporter.diagnosis.nodes import Diagnosis, NodeDiagnosis, TargetDiagnosis, diagnose
from netchecker_exporter.diagnosis.verdicts import VERDICTS, VerdictRow

__all__ = [
    "VERDICTS",
    "Diagnosis",
    "History",
    "HistoryLimits",
    "NodeDiagnosis",
    "NodeVerdict",
    "TargetDiagnosis",
    "VerdictRow",
    "diagnose",
]
