"""`python exporter.py [flags]`: run netchecker-exporter (flags as the Go k8s-netchecker-server took them)."""

from netchecker_exporter.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
