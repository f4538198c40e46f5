"""strip_padding: the agent's zero_extender is cut before JSON parsing, and nothing else changes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netchecker_exporter.report import strip_padding
from tests.support.paths import fixture_paths


def parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return "invalid"


def without_padding(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "zero_extender"}
    return value


def test_the_real_reports_lose_only_their_padding() -> None:
    for path in fixture_paths():
        body = path.read_bytes()
        stripped = strip_padding(body)
        assert len(stripped) < len(body) - 2000
        assert json.loads(stripped) == without_padding(json.loads(body))


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1,"zero_extender":[0,0,0]}',
        b'{"a":1, "zero_extender" : [ 0, 0 ,0 ] }\n',
        b'{"a":1,"zero_extender":[]}',
        b'{"a":"x","b":"y,"zero_extender":[0]}',  # the quote closes a string: invalid before and after
        b'{"a":"x\\",\\"zero_extender\\":[0]}"}',  # inside a string: left alone
        b'{"zero_extender":[0,0]}',  # the only field
        b'{"a":1,"zero_extender":[0,1]}',  # not all zeros
        b'{"a":1,"zero_extender":[0,0],"b":2}',  # not last
        b'{"a":1,"zero_extender":[0,0]}}',
        b'[1,"zero_extender":[0]}',
        b'{"a":[1,"zero_extender":[0]}',
        b'{"a":1 "zero_extender":[0]}',
        b'{"a":1,"zero_extender":[0,,0]}',  # malformed arrays stay malformed
        b'{"a":1,"zero_extender":[,]}',
        b'{"a":1,"zero_extender":[0,]}',
        b'{"a":1,"zero_extender":[00]}',
        b'{"a":1,"zero_extender":[0 0]}',
        b"",
    ],
)
def test_stripping_never_changes_what_the_body_means(body: bytes) -> None:
    assert without_padding(parsed(strip_padding(body))) == without_padding(parsed(body))


def test_a_padding_that_is_not_all_zeros_is_parsed_as_sent() -> None:
    body = b'{"a":1,"zero_extender":[0,1]}'
    assert strip_padding(body) is body
