"""The HTTP wing: the granian front, the bottle routes, the views they serve (docs/architecture.md#http)."""
