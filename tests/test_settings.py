"""Configuration: Go flag syntax, precedence, and one exact message per bad example."""

from __future__ import annotations

import pytest

from netchecker_exporter.errors import ConfigError
from netchecker_exporter.flags import FLAGS, HelpRequestedError, format_help
from netchecker_exporter.settings import load_settings
from tests.support.settings import load, problems_of

KUBESPRAY_ARGS = [
    "-v=5",
    "-logtostderr",
    "-kubeproxyinit=false",
    "-endpoint=0.0.0.0:8081",
    "-etcd-endpoints=http://127.0.0.1:2379",
]


def test_defaults_match_the_original_server() -> None:
    settings = load([])
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 8081)
    assert settings.check_interval_seconds == 10
    assert settings.report_ttl_seconds == 300
    assert settings.max_report_bytes == 1_048_576
    assert settings.etcd.endpoints == ()
    assert settings.etcd.tree == "netchecker"
    assert settings.etcd.ping_timeout_seconds == 5
    assert settings.kubernetes.agent_selector == "app in (netchecker-agent,netchecker-agent-hostnet)"
    assert settings.kubernetes.startup_grace_seconds == 120


def test_kubesprays_exact_command_line_is_accepted() -> None:
    settings = load(KUBESPRAY_ARGS)
    assert settings.verbosity == 5
    assert settings.etcd.endpoints == ("http://127.0.0.1:2379",)


@pytest.mark.parametrize(
    "argv",
    [
        ["-report-ttl=60"],
        ["-report-ttl", "60"],
        ["--report-ttl=60"],
        ["--report-ttl", "60"],
    ],
)
def test_every_go_flag_syntax_works(argv: list[str]) -> None:
    assert load(argv).report_ttl_seconds == 60


@pytest.mark.parametrize("argv", [["-logtostderr"], ["-logtostderr=false"], ["--alsologtostderr=T"]])
def test_a_boolean_flag_never_swallows_the_next_argument(argv: list[str]) -> None:
    assert load([*argv, "-v", "2"]).verbosity == 2


def test_flags_beat_environment_which_beats_the_file_which_beats_defaults() -> None:
    files = {"c.yml": "report-ttl: 11\ncheck-interval: 12\netcd-tree: fromfile\n"}
    env = {"NETCHECKER_CONFIG": "c.yml", "NETCHECKER_REPORT_TTL": "21", "NETCHECKER_CHECK_INTERVAL": "22"}
    settings = load(["-report-ttl=31"], env, files)
    assert settings.report_ttl_seconds == 31
    assert settings.check_interval_seconds == 22
    assert settings.etcd.tree == "fromfile"
    assert settings.max_report_bytes == 1_048_576


def test_yaml_lists_are_accepted_for_endpoint_lists() -> None:
    files = {"c.yml": "etcd-endpoints: [http://a:2379, https://b:2379]\n"}
    assert load(["-config", "c.yml"], files=files).etcd.endpoints == ("http://a:2379", "https://b:2379")


BAD_CONFIGS = [
    (["-nope=1"], {}, {}, ["unknown flag -nope"]),
    (["extra"], {}, {}, ["unexpected argument 'extra' (flags start with - or --)"]),
    (["-report-ttl"], {}, {}, ["flag -report-ttl needs a value"]),
    (["-report-ttl=abc"], {}, {}, ["flag -report-ttl: 'abc' is not an integer"]),
    (["-logtostderr=maybe"], {}, {}, ["flag -logtostderr: 'maybe' is not a boolean"]),
    ([], {"NETCHECKER_CHECK_INTERVAL": "soon"}, {}, ["environment -check-interval: 'soon' is not a number"]),
    (["-endpoint=nowhere"], {}, {}, ["-endpoint 'nowhere' must be host:port with a port from 0 to 65535"]),
    (["-endpoint=:70000"], {}, {}, ["-endpoint ':70000' must be host:port with a port from 0 to 65535"]),
    (["-check-interval=0"], {}, {}, ["-check-interval must be greater than 0 (got 0.0)"]),
    (["-report-ttl=-1"], {}, {}, ["-report-ttl must be greater than 0 (got -1)"]),
    (["-startup-grace=-1"], {}, {}, ["-startup-grace must not be negative"]),
    (
        ["-max-stored-field-bytes=655361"],
        {},
        {},
        ["-max-stored-field-bytes must be at most 655360 (a record must fit in one etcd request)"],
    ),
    (["-max-stored-field-bytes=0"], {}, {}, ["-max-stored-field-bytes must be greater than 0 (got 0)"]),
    (
        ["-etcd-endpoints=127.0.0.1:2379"],
        {},
        {},
        ["-etcd-endpoints: '127.0.0.1:2379' is not an http:// or https:// URL"],
    ),
    (["-etcd-cert=c.pem"], {}, {}, ["-etcd-cert and -etcd-key go together: give both or neither"]),
    (["-etcd-tree=/"], {}, {}, ["-etcd-tree must be a non-empty key prefix without spaces"]),
    (
        ["-kubeproxyinit"],
        {},
        {},
        [
            "-kubeproxyinit=true (records kept in the Kubernetes API) is not supported: "
            "use -etcd-endpoints, or leave it false for the in-memory store"
        ],
    ),
    (["-config=missing.yml"], {}, {}, ["config file missing.yml: cannot read: No such file or directory"]),
    (
        ["-config=c.yml"],
        {},
        {"c.yml": "- a\n- b\n"},
        ["config file c.yml: expected a mapping of flag names to values"],
    ),
    (
        ["-config=c.yml"],
        {},
        {"c.yml": "report_ttl: 3\nendpoint: ':1'\n"},
        ["config file c.yml: unknown key 'report_ttl'"],
    ),
    (
        ["-config=c.yml"],
        {},
        {"c.yml": "report-ttl: 1.5\n"},
        ["config file -report-ttl: 1.5 is not an integer"],
    ),
    (["-config=c.yml"], {}, {"c.yml": "a: [\n"}, None),
]


@pytest.mark.parametrize(("argv", "env", "files", "expected"), BAD_CONFIGS)
def test_each_bad_configuration_gets_its_exact_message(
    argv: list[str], env: dict[str, str], files: dict[str, str], expected: list[str] | None
) -> None:
    problems = problems_of(argv, env, files)
    if expected is None:
        assert len(problems) == 1
        assert problems[0].startswith("config file c.yml: not valid YAML:")
    else:
        assert problems == expected


def test_one_error_lists_every_problem() -> None:
    problems = problems_of(["-nope", "-check-interval=0", "-etcd-endpoints=ftp://x", "stray"])
    assert len(problems) == 4
    with pytest.raises(ConfigError) as error:
        load(["-nope", "-check-interval=0"])
    assert str(error.value) == (
        "invalid configuration:\n  - unknown flag -nope\n  - -check-interval must be greater than 0 (got 0.0)"
    )


@pytest.mark.parametrize("flag", ["-h", "-help", "--help"])
def test_help_is_requested_by_h_and_help(flag: str) -> None:
    with pytest.raises(HelpRequestedError):
        load([flag])


def test_help_groups_every_flag() -> None:
    text = format_help("netchecker-exporter")
    for heading in ("Server:", "Store (etcd):", "Pods:", "Logging (glog compatible):"):
        assert heading in text
    for flag in FLAGS:
        assert f"-{flag.name} " in text


def test_the_shipped_example_config_file_is_valid() -> None:
    from netchecker_exporter.cli import read_text
    from tests.support.paths import REPO

    path = str(REPO / "config" / "netchecker.example.yml")
    settings = load_settings(["-config", path], {}, read_text)
    assert settings.config_file == path


@pytest.mark.parametrize(
    ("argv", "env", "legacy"),
    [
        ([], {}, True),
        (["-legacy-metrics=false"], {}, False),
        ([], {"NETCHECKER_LEGACY_METRICS": "false"}, False),
        (["-legacy-metrics"], {"NETCHECKER_LEGACY_METRICS": "false"}, True),
    ],
)
def test_the_legacy_families_are_on_unless_turned_off(
    argv: list[str], env: dict[str, str], legacy: bool
) -> None:
    assert load(argv, env).metrics.legacy_metrics is legacy


def test_max_stored_field_bytes_defaults_to_32_kib_and_is_set_like_any_flag() -> None:
    assert load_settings([], {}, lambda _path: "").limits.max_stored_field_bytes == 32 * 1024
    environ = {"NETCHECKER_MAX_STORED_FIELD_BYTES": "65536"}
    assert load_settings([], environ, lambda _path: "").limits.max_stored_field_bytes == 65536
