"""The /metrics sharding flags (kube-state-metrics' -shard / -total-shards, and the StatefulSet ordinal)."""

from __future__ import annotations

import pytest

from netchecker_exporter.flags import format_help
from netchecker_exporter.settings import MetricsSettings, pod_ordinal
from tests.support.settings import load, problems_of

ETCD = "-etcd-endpoints=http://127.0.0.1:2379"


def test_no_sharding_by_default() -> None:
    settings = load([])
    assert (settings.metrics.shard, settings.metrics.total_shards) == (0, 1)
    assert "shard=0 total-shards=1" in settings.describe()


def test_the_shard_flags_come_from_flags_environment_and_the_file() -> None:
    settings = load(
        [ETCD, "-shard=2"], {"NETCHECKER_TOTAL_SHARDS": "3"}, {"m.yml": "legacy-metrics: false\n"}
    )
    assert settings.metrics == MetricsSettings(legacy_metrics=True, shard=2, total_shards=3)
    from_file = load([ETCD, "-config=m.yml"], {}, {"m.yml": "total-shards: 4\nshard: 3\n"})
    assert (from_file.metrics.shard, from_file.metrics.total_shards) == (3, 4)


@pytest.mark.parametrize(
    ("pod", "shard"),
    [("netchecker-server-0", 0), ("netchecker-server-2", 2), ("a-b-c-1", 1)],
)
def test_the_pod_name_s_ordinal_is_the_shard(pod: str, shard: int) -> None:
    settings = load([ETCD, "-total-shards=3", f"-pod={pod}"])
    assert settings.metrics.shard == shard


@pytest.mark.parametrize("pod", ["netchecker-server-3", "netchecker-server"])
def test_with_one_shard_the_pod_is_not_read(pod: str) -> None:
    """A chart may always pass -pod: unsharded replicas each export everything, as before."""
    settings = load([ETCD, f"-pod={pod}"])
    assert (settings.metrics.shard, settings.metrics.total_shards) == (0, 1)


def test_the_pod_may_come_from_the_environment() -> None:
    settings = load([ETCD, "-total-shards=2"], {"NETCHECKER_POD": "server-1"})
    assert settings.metrics.shard == 1


@pytest.mark.parametrize(
    ("name", "ordinal"),
    [("server-0", 0), ("server-17", 17), ("server", None), ("server-", None), ("server-01", None),
     ("server-x1", None), ("7", None), ("server-1234567890", None)],
)  # fmt: skip
def test_an_ordinal_is_a_plain_number_after_the_last_dash(name: str, ordinal: int | None) -> None:
    assert pod_ordinal(name) == ordinal


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["-total-shards=0"], "-total-shards must be from 1 to 1024 (got 0)"),
        (["-total-shards=1025"], "-total-shards must be from 1 to 1024 (got 1025)"),
        ([ETCD, "-total-shards=2", "-shard=2"], "the shard must be from 0 to 1 for -total-shards=2 (got 2)"),
        (["-shard=-1"], "the shard must be from 0 to 0 for -total-shards=1 (got -1)"),
        (["-shard=1"], "the shard must be from 0 to 0 for -total-shards=1 (got 1)"),
        (
            [ETCD, "-total-shards=3", "-pod=server-3"],
            "the shard must be from 0 to 2 for -total-shards=3 (got 3)",
        ),
        (
            [ETCD, "-total-shards=3", "-pod=netchecker-server"],
            "-pod 'netchecker-server' does not end in a StatefulSet ordinal (-0, -1, ...)",
        ),
        (
            [ETCD, "-total-shards=3", "-pod=server-1", "-shard=1"],
            "-shard and -pod: give one or the other (-pod's ordinal is the shard)",
        ),
        (
            ["-total-shards=2", "-shard=1"],
            "-total-shards=2 needs -etcd-endpoints: on the memory store a replica sees only the reports "
            "it received",
        ),
        (["-total-shards=two"], "flag -total-shards: 'two' is not an integer"),
    ],
)
def test_each_bad_shard_value_gets_its_exact_message(argv: list[str], problem: str) -> None:
    assert problem in problems_of(argv)


def test_help_lists_the_shard_flags() -> None:
    text = format_help("netchecker-exporter")
    for name in ("total-shards", "shard", "pod"):
        assert f"-{name} " in text
