"""Durations, byte sizes and number formatting the way Loki (Go) reads and writes them."""

from __future__ import annotations

import math
import re

from labkit.durations import GO_UNITS, PROMETHEUS_UNITS, duration_ns

_BYTES = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_BYTE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "ti": 1024**4, "tib": 1024**4,
    "p": 1000**5, "pb": 1000**5, "pi": 1024**5, "pib": 1024**5,
    "e": 1000**6, "eb": 1000**6, "ei": 1024**6, "eib": 1024**6,
}


def range_duration_ns(text: str) -> int | None:
    """A range or offset duration (Prometheus units, y w d h m s ms) in ns, or None."""
    ns = duration_ns(text, PROMETHEUS_UNITS | GO_UNITS)
    return None if ns is None else int(ns)


def go_duration_seconds(text: str) -> float | None:
    """Go's time.ParseDuration, in seconds (the unit of `unwrap duration()` and label filters)."""
    ns = duration_ns(text, GO_UNITS)
    return None if ns is None else ns / 1e9


def parse_bytes(text: str) -> float | None:
    """humanize.ParseBytes: "20MB" is 20e6, "1KiB" is 1024; None when not a size."""
    m = _BYTES.match(text)
    if not m:
        return None
    unit = _BYTE_UNITS.get(m.group(2).lower())
    return None if unit is None else float(m.group(1)) * unit


def format_value(v: float) -> str:
    """A sample value as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    r = repr(v)
    if "e" in r or "E" in r:
        # shortest round-trip digits, positional notation (no exponent), as Go prints 'f'
        import numpy as np

        return np.format_float_positional(v, trim="-")
    return r
