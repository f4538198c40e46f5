"""Generate the etcd v3 Python modules from netchecker_exporter/store/etcdpb/*.proto (`make stubs`).

The generated modules are committed: the package installs from PyPI wheels alone, and
tests/test_etcd_stubs.py regenerates them into a temp dir and requires identical bytes.
`python scripts/generate_etcd_stubs.py [OUT_DIR]` (default: the repository itself).
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parent.parent
PROTO_DIR = Path("netchecker_exporter/store/etcdpb")
MESSAGES_ONLY = ("kv.proto",)
WITH_SERVICES = ("rpc.proto",)


def generate(out_dir: Path) -> list[Path]:
    """Run protoc (the one bundled with grpcio-tools) and return the files it wrote."""
    (out_dir / PROTO_DIR).mkdir(parents=True, exist_ok=True)
    include = f"-I{REPO}"
    for names, services in ((MESSAGES_ONLY, False), (WITH_SERVICES, True)):
        outputs = [f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
        if services:
            outputs.append(f"--grpc_python_out={out_dir}")
        sources = [str(REPO / PROTO_DIR / name) for name in names]
        if protoc.main(["protoc", include, *outputs, *sources]) != 0:
            raise SystemExit(f"protoc failed on {sources}")
    return sorted(p for p in (out_dir / PROTO_DIR).iterdir() if "_pb2" in p.name)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO
    for path in generate(target):
        print(path)
