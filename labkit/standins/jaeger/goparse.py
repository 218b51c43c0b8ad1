"""Go's parsers as Jaeger's query service calls them, with Go's exact error messages.

The real Jaeger answers a bad parameter with the error text of Go's ``strconv``,
``time.ParseDuration``, ``encoding/json`` or its own trace-id parser; the stand-in's 400s
carry the same words, so a learner sees the same message on either server (checked by
tests/integration/test_jaeger_differential.py).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "GoParseError",
    "parse_duration",
    "parse_int",
    "parse_tags_json",
    "parse_trace_id",
]

_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DIGITS = "0123456789abcdef"


class GoParseError(ValueError):
    """A value Go's parser refuses; ``str()`` is Go's error message."""


def _strconv_quote(s: str) -> str:
    """``strconv.Quote``: printable characters kept, the rest escaped the Go way."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{ord(ch):02x}"))
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _time_quote(s: str) -> str:
    """``time``'s own quote(): non-ASCII and control bytes as \\xNN, one per UTF-8 byte."""
    out: list[str] = []
    for ch in s:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode())
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    return '"' + "".join(out) + '"'


def _parse_uint(s: str, base: int, bits: int, func: str, original: str) -> int:
    """``strconv.ParseUint`` digit by digit, so syntax and range errors come in Go's order."""
    if not s:
        raise GoParseError(f"strconv.{func}: parsing {_strconv_quote(original)}: invalid syntax")
    limit = (1 << bits) - 1
    value = 0
    for ch in s:
        digit = _DIGITS.find(ch.lower()) if len(ch.encode()) == 1 else -1
        if digit < 0 or digit >= base:
            raise GoParseError(f"strconv.{func}: parsing {_strconv_quote(original)}: "
                               "invalid syntax")
        value = value * base + digit
        if value > limit:
            raise GoParseError(f"strconv.{func}: parsing {_strconv_quote(original)}: "
                               "value out of range")
    return value


def parse_int(s: str, bits: int = 64) -> int:
    """``strconv.ParseInt(s, 10, bits)``."""
    body, negative = s, False
    if s[:1] in ("+", "-"):
        body, negative = s[1:], s[0] == "-"
    magnitude = _parse_uint(body, 10, 64, "ParseInt", s)
    cutoff = 1 << (bits - 1)
    if magnitude > cutoff or (magnitude == cutoff and not negative):
        raise GoParseError(f"strconv.ParseInt: parsing {_strconv_quote(s)}: value out of range")
    return -magnitude if negative else magnitude


def parse_trace_id(s: str) -> str:
    """Jaeger's ``model.TraceIDFromString``: 1 to 32 hex digits, as 32 lowercase digits."""
    if len(s) > 32:
        raise GoParseError(f"TraceID cannot be longer than 32 hex characters: {s}")
    high, low = (s[:-16], s[-16:]) if len(s) > 16 else ("", s)
    hi = _parse_uint(high, 16, 64, "ParseUint", high) if high else 0
    lo = _parse_uint(low, 16, 64, "ParseUint", low)
    return f"{hi:016x}{lo:016x}"


def parse_duration(s: str) -> int:
    """``time.ParseDuration`` in nanoseconds, with its three error messages."""
    invalid = GoParseError(f"time: invalid duration {_time_quote(s)}")
    rest, negative = s, False
    if rest[:1] in ("+", "-"):
        rest, negative = rest[1:], rest[0] == "-"
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        if rest[0] not in ".0123456789":
            raise invalid
        whole = len(rest) - len(rest.lstrip("0123456789"))
        number, rest = rest[:whole], rest[whole:]
        fraction = ""
        if rest[:1] == ".":
            rest = rest[1:]
            digits = len(rest) - len(rest.lstrip("0123456789"))
            fraction, rest = rest[:digits], rest[digits:]
        if not number and not fraction:
            raise invalid
        cut = next((i for i, c in enumerate(rest) if c == "." or c in "0123456789"), len(rest))
        unit, rest = rest[:cut], rest[cut:]
        if not unit:
            raise GoParseError(f"time: missing unit in duration {_time_quote(s)}")
        if unit not in _DURATION_UNITS:
            raise GoParseError(f"time: unknown unit {_time_quote(unit)} in duration "
                               f"{_time_quote(s)}")
        scale = _DURATION_UNITS[unit]
        value = int(number or "0") * scale
        if fraction:
            value += int(int(fraction[:19]) * (scale / 10 ** len(fraction[:19])))
        total += value
        if total > 1 << 63:
            raise invalid
    if not negative and total > (1 << 63) - 1:
        raise invalid
    return -total if negative else total


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def parse_tags_json(text: str) -> dict[str, str]:
    """``json.Unmarshal`` into ``map[string]string``; the message is Go's for type errors.

    Syntax errors carry Python's wording (Go's scanner words them differently; see
    docs/jaeger.md, "Differences from Jaeger v2").
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoParseError(str(exc)) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise GoParseError(f"json: cannot unmarshal {_json_kind(doc)} into Go value of type "
                           "map[string]string")
    for value in doc.values():
        if value is not None and not isinstance(value, str):
            raise GoParseError(f"json: cannot unmarshal {_json_kind(value)} into Go value of "
                               "type string")
    return {k: v or "" for k, v in doc.items()}
