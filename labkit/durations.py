"""Durations such as ``"1h30m"`` or ``"500ms"``: the one parser every part of labkit uses.

Two grammars share one reader and differ only in their units:

* Prometheus durations (``PROMETHEUS_UNITS``: ``ms s m h d w y``), used in PromQL ranges,
  steps, rule ``for:`` values and the lab's own parameters;
* Go durations (``GO_UNITS``: ``ns us µs ms s m h``, ``time.ParseDuration``), used by Jaeger's
  ``minDuration`` and LogQL's ``duration()`` label filters.

Numbers follow Go's grammar (``1.5h``, ``.5s``); parts may repeat in any order, as Go allows.

>>> parse_duration("1h30m")
5400.0
>>> duration_ns("-1.5s", GO_UNITS)
-1500000000.0
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta

__all__ = ["ALL_UNITS", "GO_UNITS", "PROMETHEUS_UNITS", "duration_ns", "parse_duration"]

UNIT_NS = {
    "ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
    "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9,
}
PROMETHEUS_UNITS = frozenset({"ms", "s", "m", "h", "d", "w", "y"})
GO_UNITS = frozenset({"ns", "us", "µs", "μs", "ms", "s", "m", "h"})
ALL_UNITS = frozenset(UNIT_NS)
_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h|d|w|y)")


def duration_ns(text: str, units: Collection[str] = ALL_UNITS, *,
                signed: bool = True) -> float | None:
    """Nanoseconds in ``text``, or None when it is not a duration in ``units``.

    A leading sign is read when ``signed``; ``"0"`` alone is zero, as in Go.
    """
    s = text.strip()
    sign = 1.0
    if signed and s[:1] in ("+", "-"):
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:]
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(s):
        part = _PART.match(s, pos)
        if part is None or part.group(2) not in units:
            return None
        total += float(part.group(1)) * UNIT_NS[part.group(2)]
        pos = part.end()
    return sign * total if pos else None


def parse_duration(value: str | timedelta | float, *, units: Collection[str] = PROMETHEUS_UNITS,
                   what: str = "duration") -> float:
    """Seconds in a duration string, a :class:`~datetime.timedelta` or a number of seconds.

    Raises ``ValueError`` naming ``what`` and the units it takes when ``value`` is not one.

    >>> parse_duration("500ms"), parse_duration(timedelta(minutes=2)), parse_duration(3)
    (0.5, 120.0, 3.0)
    """
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    ns = duration_ns(value, units, signed=False) if isinstance(value, str) else None
    if ns is None:
        shown = " ".join(u for u in UNIT_NS if u in units and u != "μs")
        raise ValueError(f"{what} {value!r} is not a duration; use e.g. '500ms', '30s', '5m' or "
                         f"'1h30m' (units: {shown})")
    return ns / 1e9
