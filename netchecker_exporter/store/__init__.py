"""Where reports are kept: the ReportStore protocol and its implementations."""

from netchecker_exporter.store.base import ReportStore, StoreHealth

__all__ = ["ReportStore", "StoreHealth"]
