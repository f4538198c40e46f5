"""The one start-up: `python -m netchecker_exporter`, the `netchecker-exporter` script and exporter.py.

The allocator is chosen first (tuning.use_malloc_allocator re-execs once, before the big imports),
then the CLI runs (docs/architecture.md#start-up).
"""

from __future__ import annotations

from netchecker_exporter.tuning import use_malloc_allocator


def main() -> int:
    use_malloc_allocator()
    from netchecker_exporter.cli import main as run_cli

    return run_cli()


if __name__ == "__main__":
    raise SystemExit(main())
