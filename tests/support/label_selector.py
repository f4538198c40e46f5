"""Kubernetes label selectors as the API server parses them (k8s.io/apimachinery/pkg/labels).

Grammar: requirements joined by ',' (AND); each is `key`, `!key`, `key=v`, `key==v`, `key!=v`,
`key in (v1,v2)`, `key notin (v1,v2)`, `key>N` or `key<N`. `!=` and `notin` match a missing key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[A-Za-z0-9_./-]+)")
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")

Labels = Mapping[str, str]


class SelectorError(ValueError):
    """The selector does not parse; the API server answers 400."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...]

    def matches(self, labels: Labels) -> bool:
        return _OPERATORS[self.operator](labels.get(self.key), self.values)


def _greater(value: str | None, values: tuple[str, ...]) -> bool:
    return value is not None and value.lstrip("-").isdigit() and int(value) > int(values[0])


def _less(value: str | None, values: tuple[str, ...]) -> bool:
    return value is not None and value.lstrip("-").isdigit() and int(value) < int(values[0])


_OPERATORS: dict[str, Callable[[str | None, tuple[str, ...]], bool]] = {
    "exists": lambda value, _: value is not None,
    "!exists": lambda value, _: value is None,
    "in": lambda value, values: value in values,
    "notin": lambda value, values: value not in values,
    "=": lambda value, values: value == values[0],
    "!=": lambda value, values: value != values[0],
    "gt": _greater,
    "lt": _less,
}


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Labels | None) -> bool:
        return all(requirement.matches(labels or {}) for requirement in self.requirements)


def parse_selector(text: str) -> Selector:
    tokens = _tokenize(text)
    requirements: list[Requirement] = []
    while tokens:
        requirements.append(_parse_requirement(tokens))
        if tokens and tokens.pop(0) != ",":
            raise SelectorError(f"expected ',' between requirements in {text!r}")
        if not tokens and text.rstrip().endswith(","):
            raise SelectorError(f"a requirement must follow ',' in {text!r}")
    return Selector(tuple(requirements))


def _tokenize(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise SelectorError(f"unable to parse requirement: invalid character at {text[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _parse_requirement(tokens: list[str]) -> Requirement:
    if tokens[0] == "!":
        tokens.pop(0)
        return Requirement(_key(tokens), "!exists", ())
    key = _key(tokens)
    if not tokens or tokens[0] == ",":
        return Requirement(key, "exists", ())
    operator = tokens.pop(0)
    if operator in ("in", "notin"):
        return Requirement(key, operator, _value_set(tokens))
    if operator in ("=", "==", "!="):
        return Requirement(key, "!=" if operator == "!=" else "=", (_value(tokens),))
    if operator in (">", "<"):
        number = _value(tokens)
        if not number.lstrip("-").isdigit():
            raise SelectorError(f"for 'gt', 'lt' operators, the value must be an integer: {number!r}")
        return Requirement(key, "gt" if operator == ">" else "lt", (number,))
    raise SelectorError(f"unable to parse requirement: unknown operator {operator!r}")


def _key(tokens: list[str]) -> str:
    key = tokens.pop(0) if tokens else ""
    if not _KEY.match(key) or key in ("in", "notin"):
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _value(tokens: list[str]) -> str:
    """A value may be empty (`key=`), so a ',' or the end means ''."""
    if not tokens or tokens[0] == ",":
        return ""
    value = tokens.pop(0)
    if not _VALUE.match(value):
        raise SelectorError(f"invalid label value: {value!r}")
    return value


def _value_set(tokens: list[str]) -> tuple[str, ...]:
    if not tokens or tokens.pop(0) != "(":
        raise SelectorError("expected '(' after 'in' or 'notin'")
    values: list[str] = []
    while True:
        values.append("" if tokens and tokens[0] in (",", ")") else _value(tokens))
        separator = tokens.pop(0) if tokens else ""
        if separator == ")":
            return tuple(values)
        if separator != ",":
            raise SelectorError("expected ',' or ')' in a value set")
