"""The diagnosis wing: pure verdicts per node and target, their history (docs/architecture.md#diagnosis)."""
