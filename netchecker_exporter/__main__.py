"""The one start-up: `python -m netchecker_exporter`, the `netchecker-exporter` script and exporter.py.

The threads' scheduling policy and the allocator are chosen first (tuning.use_malloc_allocator
re-execs once, before the big imports), then the CLI runs (docs/architecture.md#start-up).
"""

from __future__ import annotations

from netchecker_exporter.tuning import schedule_as_batch, use_malloc_allocator


def main() -> int:
    schedule_as_batch()
    use_malloc_allocator()
    from netchecker_exporter.cli import main as run_cli

    return run_cli()


if __name__ == "__main__":
    raise SystemExit(main())
