"""Our etcd v3 stubs: current with their .proto files, on protobuf's C backend, on etcd's wire names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from google.protobuf.internal import api_implementation

from netchecker_exporter.store import etcd_rpc
from netchecker_exporter.store.etcdpb import kv_pb2, rpc_pb2
from tests.support.paths import REPO

GENERATED = REPO / "netchecker_exporter" / "store" / "etcdpb"


def test_the_committed_stubs_are_what_make_stubs_generates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate_etcd_stubs.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = tmp_path / "netchecker_exporter" / "store" / "etcdpb"
    names = sorted(p.name for p in fresh.iterdir())
    assert names == ["kv_pb2.py", "kv_pb2.pyi", "rpc_pb2.py", "rpc_pb2.pyi", "rpc_pb2_grpc.py"]
    stale = [name for name in names if (fresh / name).read_bytes() != (GENERATED / name).read_bytes()]
    assert stale == [], f"run `make stubs` and commit: {stale} differ from the .proto files"


def test_messages_are_encoded_by_protobufs_upb_backend_not_pure_python() -> None:
    assert api_implementation.Type() == "upb"


def test_package_and_service_names_are_etcds_so_the_grpc_methods_match() -> None:
    services = rpc_pb2.DESCRIPTOR.services_by_name
    methods = {f"/{s.full_name}/{m.name}" for s in services.values() for m in s.methods}
    assert {
        "/etcdserverpb.KV/Range",
        "/etcdserverpb.KV/Put",
        "/etcdserverpb.KV/Txn",
        "/etcdserverpb.KV/Compact",
        "/etcdserverpb.Watch/Watch",
        "/etcdserverpb.Lease/LeaseGrant",
        "/etcdserverpb.Lease/LeaseRevoke",
        "/etcdserverpb.Lease/LeaseKeepAlive",
        "/etcdserverpb.Lease/LeaseTimeToLive",
        "/etcdserverpb.Maintenance/Alarm",
        "/etcdserverpb.Maintenance/Status",
        "/etcdserverpb.Maintenance/Defragment",
    } == methods
    assert kv_pb2.DESCRIPTOR.package == "mvccpb"


def test_field_numbers_on_the_wire_are_etcds() -> None:
    """Bytes as etcd's own encoder writes them (field number << 3 | wire type), spot-checked."""
    put = etcd_rpc.PutRequest(key=b"k", value=b"v", lease=7)
    assert put.SerializeToString() == b"\x0a\x01k\x12\x01v\x18\x07"
    compare = etcd_rpc.Compare(
        key=b"k", target=etcd_rpc.Compare.MOD, result=etcd_rpc.Compare.EQUAL, mod_revision=5
    )
    assert compare.SerializeToString() == b"\x10\x02\x1a\x01k\x30\x05"  # target=2, key=3, mod_revision=6
    watch = etcd_rpc.WatchResponse.FromString(b"\x28\x09\x5a\x04\x08\x01\x12\x00")
    assert watch.compact_revision == 9 and watch.events[0].type == kv_pb2.Event.DELETE  # events = 11
    alarm = etcd_rpc.AlarmResponse.FromString(b"\x12\x04\x08\x03\x10\x01")
    assert (alarm.alarms[0].memberID, alarm.alarms[0].alarm) == (3, etcd_rpc.NOSPACE)
    assert etcd_rpc.CORRUPT == 2
