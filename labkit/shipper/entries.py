"""Turn log lines into Loki entries and push payloads.

The pipeline is the one ``stack/alloy/config.alloy`` gives Alloy: parse the
line as JSON, take ``level`` as a label and ``timestamp`` as the entry time.

* The ``level`` label keeps the value as logged (``INFO``, ``ERROR``), as
  Alloy's ``stage.labels`` does; LogQL matches it case-sensitively, so queries
  say ``{level="ERROR"}``. Lines that are not JSON objects, or have no string
  level, get ``level="unknown"``.
* The time is the line's ``timestamp`` field when it parses as RFC 3339 (any
  number of sub-second digits, ``Z`` or an offset), else the time the line was
  read, like Alloy's ``stage.timestamp`` with ``action_on_failure = "fudge"``.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Entry", "make_entry", "parse_labels", "parse_rfc3339_ns", "push_payload"]

UNKNOWN_LEVEL = "unknown"

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True)
class Entry:
    """One log entry ready for Loki: its stream labels, time in ns and line."""

    labels: tuple[tuple[str, str], ...]  # sorted, so equal label sets compare equal
    ts_ns: int
    line: str


def parse_rfc3339_ns(value: str) -> int | None:
    """Unix time in nanoseconds of an RFC 3339 timestamp, or None if it is not one."""
    m = _RFC3339.fullmatch(value.strip())
    if not m:
        return None
    year, mon, day, hh, mm, ss = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        seconds = calendar.timegm((year, mon, day, hh, mm, ss, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if not (1 <= mon <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
        return None
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    frac = int((m.group(7) or "").ljust(9, "0"))
    return seconds * 1_000_000_000 + frac


def parse_labels(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``k=v`` strings into static labels, refusing names Loki would refuse."""
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(
                f"bad label {pair!r}: write name=value, with a name of letters, digits "
                "and underscores that does not start with a digit or '__' (e.g. job=llm-api)"
            )
        if name == "level":
            raise ValueError("the 'level' label comes from each log line; choose another name")
        labels[name] = value
    return labels


def make_entry(line: str, static: Mapping[str, str], read_ns: int) -> Entry:
    """Build the Loki entry for one line read at ``read_ns``."""
    level, ts_ns = UNKNOWN_LEVEL, None
    try:
        doc: Any = json.loads(line)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        if isinstance(doc.get("level"), str) and doc["level"]:
            level = doc["level"]
        if isinstance(doc.get("timestamp"), str):
            ts_ns = parse_rfc3339_ns(doc["timestamp"])
    labels = tuple(sorted({**static, "level": level}.items()))
    return Entry(labels=labels, ts_ns=read_ns if ts_ns is None else ts_ns, line=line)


def push_payload(entries: Iterable[Entry]) -> dict[str, Any]:
    """The JSON body of ``POST /loki/api/v1/push``: one stream per label set."""
    streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
    for e in entries:
        streams.setdefault(e.labels, []).append([str(e.ts_ns), e.line])
    return {"streams": [{"stream": dict(k), "values": v} for k, v in streams.items()]}
