"""netchecker-exporter: a network connectivity checker for Kubernetes with Prometheus metrics."""

__version__ = "0.1.0"
