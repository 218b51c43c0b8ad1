"""Grafana's units, as the preview prints them (a subset: the ones the lab's dashboards use)."""

from __future__ import annotations

import math

__all__ = ["format_value"]

_BYTES = ("B", "KiB", "MiB", "GiB", "TiB")
_SUFFIX = {"reqps": " req/s", "tps": " tok/s", "celsius": " °C", "watt": " W", "s": " s"}


def _scaled_bytes(value: float, first: int = 0) -> str:
    i = first
    while abs(value) >= 1024 and i < len(_BYTES) - 1:
        value, i = value / 1024, i + 1
    return f"{value:.3g} {_BYTES[i]}"


def format_value(value: float, unit: str) -> str:
    """``0.053, "percentunit"`` → ``5.3%``; ``2.5e9, "bytes"`` → ``2.33 GiB``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "percent":
        return f"{value:.3g}%"
    if unit == "bytes":
        return _scaled_bytes(value)
    if unit == "mbytes":
        return _scaled_bytes(value, 2)
    if unit == "Bps":
        return _scaled_bytes(value) + "/s"
    if unit == "s" and 0 < abs(value) < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g}{_SUFFIX.get(unit, '')}"
