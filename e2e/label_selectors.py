"""A LabelSelector object (matchLabels, matchExpressions) in the query syntax of `?labelSelector=`."""

from __future__ import annotations

from e2e.kube_client import Object

_OPERATORS = {"In": "in", "NotIn": "notin"}


def selector_text(selector: Object) -> str:
    parts = [f"{key}={value}" for key, value in selector.get("matchLabels", {}).items()]
    for expression in selector.get("matchExpressions", []):
        operator = _OPERATORS[expression["operator"]]
        parts.append(f"{expression['key']} {operator} ({','.join(expression['values'])})")
    return ",".join(parts)
