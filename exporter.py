"""`python exporter.py [flags]`: run netchecker-exporter (flags as the Go k8s-netchecker-server took them)."""

from netchecker_exporter.tuning import use_malloc_allocator

if __name__ == "__main__":
    use_malloc_allocator()  # re-execs once, before the big imports
    from netchecker_exporter.cli import main

    raise SystemExit(main())
