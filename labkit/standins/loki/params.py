"""Read Loki HTTP API parameters (times, steps, limits) with Loki's rules and messages."""

from __future__ import annotations

import math
import time
from datetime import datetime

from labkit.standins.loki.units import range_duration_ns


class ParamError(ValueError):
    """A request parameter is invalid (answered with 400)."""


def now_ns() -> int:
    return time.time_ns()


_INT64 = 2**63


def parse_time(value: str | None, default: int, name: str) -> int:
    """ns integer, float seconds ("1700000000.5"), RFC3339, or ≤10 digits read as seconds;
    refused when it falls outside int64 nanoseconds (years 1678 to 2262)."""
    if value is None or value == "":
        return default
    t = _parse_time(value, name)
    if not -_INT64 <= t < _INT64:
        raise ParamError(
            f'invalid {name} "{value:.40}": outside the times Loki can hold '
            "(nanoseconds since 1970 within int64)"
        )
    return t


def _parse_time(value: str, name: str) -> int:
    if "." in value:
        try:
            t = float(value)
        except ValueError:
            pass
        else:
            if math.isnan(t) or math.isinf(t):
                raise ParamError(f'invalid {name} "{value}"')
            frac, secs = math.modf(t)
            return int(secs) * 10**9 + round(frac * 1000) * 10**6  # Loki keeps milliseconds
    try:
        n = int(value)
    except ValueError:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParamError(
                f'invalid {name} "{value}": use nanoseconds, seconds, '
                "or RFC3339 like 2024-01-02T15:04:05Z"
            ) from None
        if dt.tzinfo is None:
            raise ParamError(
                f'invalid {name} "{value}": RFC3339 needs a time zone (Z or +hh:mm)'
            ) from None
        frac_ns = _rfc3339_fraction_ns(value)
        return int(dt.timestamp()) * 10**9 + frac_ns
    return n * 10**9 if len(value.lstrip("-")) <= 10 else n


def _rfc3339_fraction_ns(value: str) -> int:
    # datetime keeps microseconds; read the fraction ourselves to keep nanoseconds.
    if "." not in value:
        return 0
    frac = value.split(".", 1)[1]
    digits = ""
    for ch in frac:
        if not ch.isdigit():
            break
        digits += ch
    return int((digits + "000000000")[:9]) if digits else 0


def parse_step(value: str | None, start_ns: int, end_ns: int) -> int:
    """Float seconds or a duration; default max(floor(range/250 s), 1 s), like Loki."""
    if value is None or value == "":
        return max(int((end_ns - start_ns) / 1e9 / 250), 1) * 10**9
    try:
        secs = float(value)
        ns = round(secs * 1e9)
    except OverflowError:
        raise ParamError(f'invalid step "{value:.40}": too large') from None
    except ValueError:
        parsed = range_duration_ns(value)
        if parsed is None:
            raise ParamError(
                f'invalid step "{value}": use seconds (15) or a duration (15s, 1m)'
            ) from None
        ns = parsed
    if ns <= 0:
        raise ParamError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    if ns >= _INT64:
        raise ParamError(f'invalid step "{value:.40}": too large')
    return ns


def parse_limit(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise ParamError(f'invalid limit "{value}": want a positive integer') from None
    if n <= 0:
        raise ParamError("limit must be a positive value")
    return n


def parse_direction(value: str | None) -> bool:
    """True for forward; Loki's default is backward."""
    if value is None or value == "":
        return False
    v = value.lower()
    if v not in ("forward", "backward"):
        raise ParamError(f'invalid direction "{value}": use forward or backward')
    return v == "forward"


def parse_since(value: str | None, default_ns: int) -> int:
    if value is None or value == "":
        return default_ns
    ns = range_duration_ns(value)
    if ns is None or ns <= 0:
        raise ParamError(f'invalid since "{value}": use a duration like 1h')
    return ns
