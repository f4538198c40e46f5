"""The agent's padding: its `zero_extender` cut from the raw body before JSON parsing.

Pure: byte operations only. The padding carries no data (COMPAT.md) but is most of the body.
"""

from __future__ import annotations

import re

PADDING_KEY = b'"zero_extender"'
_PADDING_TAIL = re.compile(rb"\s*:\s*\[([^\]]*)\]\s*\}\s*")
_JSON_WHITESPACE = b" \t\n\r"


def _is_array_of_zeros(inner: bytes) -> bool:
    """Is `inner` exactly JSON's `0, 0, ...` (or nothing)? A malformed array must stay malformed.

    Byte operations in C: a regex of the same grammar cost more than the parsing it saves.
    """
    compact = inner.translate(None, _JSON_WHITESPACE)
    return not compact or compact == b"0" + b",0" * (len(compact) // 2)


def strip_padding(body: bytes) -> bytes:
    """The body without the agent's `zero_extender`, when it is the last field and all zeros.

    Go writes it last: 1,500 zeros that carry no data but cost json.loads more than the rest of
    the report. Anything else (another position, other values) is returned unchanged. Cutting
    `,"zero_extender":[0,...]}` cannot make invalid JSON valid: if that quote closed a string,
    the cut leaves the string unterminated.
    """
    key = body.rfind(PADDING_KEY)
    tail = _PADDING_TAIL.fullmatch(body, key + len(PADDING_KEY)) if key >= 0 else None
    if tail is None or not _is_array_of_zeros(tail.group(1)):
        return body
    comma = body.rfind(b",", 0, key)
    if comma < 0 or body[comma + 1 : key].strip():
        return body
    return body[:comma] + b"}"
