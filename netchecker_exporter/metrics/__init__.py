"""The metrics wing: families, the exposition body and its estimate (docs/architecture.md#metrics)."""
