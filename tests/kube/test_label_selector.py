"""The fake API server's label selectors behave like the real one's (a wrong fake proves nothing)."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.label_selector import SelectorError, parse_selector

AGENT = {"app": "netchecker-agent", "tier": "node", "version": "3"}


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("", {}, True),
        ("app=netchecker-agent", AGENT, True),
        ("app==netchecker-agent", AGENT, True),
        ("app = netchecker-agent", AGENT, True),
        ("app=web", AGENT, False),
        ("app!=web", AGENT, True),
        ("app!=web", {}, True),
        ("app in (netchecker-agent,netchecker-agent-hostnet)", AGENT, True),
        ("app in (netchecker-agent-hostnet, web)", AGENT, False),
        ("app notin (web)", AGENT, True),
        ("app notin (netchecker-agent)", AGENT, False),
        ("app notin (web)", {}, True),
        ("tier", AGENT, True),
        ("zone", AGENT, False),
        ("!zone", AGENT, True),
        ("!tier", AGENT, False),
        ("app=netchecker-agent,tier=node", AGENT, True),
        ("app=netchecker-agent,tier=master", AGENT, False),
        ("app=netchecker-agent, !zone, tier in (node)", AGENT, True),
        ("version>2", AGENT, True),
        ("version<3", AGENT, False),
        ("empty=", {"empty": ""}, True),
        ("empty=", {"empty": "x"}, False),
        ("example.com/role=agent", {"example.com/role": "agent"}, True),
    ],
)
def test_a_selector_matches_labels_as_the_api_server_does(
    selector: str, labels: dict[str, str], matches: bool
) -> None:
    assert parse_selector(selector).matches(labels) is matches


@pytest.mark.parametrize(
    "selector",
    [
        "app in netchecker-agent",
        "app in (a",
        "app=a,",
        ",app",
        "app=a b",
        "in=x",
        "version>x",
        "app=@",
        "a=b=c",
    ],
)
def test_a_malformed_selector_is_rejected(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(selector)


def test_a_malformed_selector_is_answered_with_400(apiserver: FakeKubeApiServer) -> None:
    request = urllib.request.Request(
        f"{apiserver.url}/api/v1/pods?labelSelector=app%20in%20x",
        headers={"Authorization": "Bearer test-token"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 400
