"""Agent-shaped load generators, benchmark scenarios and the demo fleet (not part of the package)."""
