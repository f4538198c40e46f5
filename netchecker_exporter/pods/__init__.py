"""Who should be reporting: the PodSource protocol and its implementations."""

from netchecker_exporter.pods.base import PodSource, PodSourceHealth

__all__ = ["PodSource", "PodSourceHealth"]
