"""Run a dashboard's panel queries against a lab, the way Grafana would.

:func:`panel_targets` lists every (panel, query) of a dashboard with Grafana's variables
substituted (``$__rate_interval``, ``$__interval``, ``$__range``, constants such as
``$slots``); :func:`run_panel` evaluates one panel's queries over a time range and
returns its series, or the error text that the preview shows in its place.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labkit.durations import parse_duration
from labkit.errors import LabError
from labkit.query.prometheus import parse_time

__all__ = ["Clients", "PanelData", "Series", "TimeRange", "panel_targets", "run_panel",
           "substitute"]

DEFAULT_SCRAPE_S = 2.0  # the lab's scrape interval (production: 15s)
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class TimeRange:
    """A range and the step of its points; Grafana aims at about 100-200 points per panel."""

    start: float
    end: float
    points: int = 120

    @classmethod
    def of(cls, start: Any = "-30m", end: Any = None) -> TimeRange:
        now = time.time()
        t0, t1 = parse_time(start, now=now), parse_time(end, now=now)
        if t1 <= t0:
            raise ValueError(f"the range ends before it starts (start={start!r}, end={end!r})")
        return cls(t0, t1)

    @property
    def step(self) -> float:
        return max(1.0, math.ceil((self.end - self.start) / self.points))


def _seconds(value: float) -> str:
    return f"{max(1, round(value))}s"


def variables(model: dict[str, Any], tr: TimeRange, scrape_s: float = DEFAULT_SCRAPE_S,
              overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Grafana's built-in interval variables and the dashboard's constants."""
    out = {
        "__interval": _seconds(tr.step),
        # Grafana: max($__interval + scrape interval, 4 * scrape interval)
        "__rate_interval": _seconds(max(tr.step + scrape_s, 4 * scrape_s)),
        "__range": _seconds(tr.end - tr.start),
    }
    for var in (model.get("templating") or {}).get("list", []):
        value = var.get("query") if var.get("type") == "constant" else (
            (var.get("current") or {}).get("value"))
        if isinstance(value, str):
            out[var["name"]] = value
    out.update(overrides or {})
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace ``$name`` and ``${name}``; an unknown variable is an error that names it."""
    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise LabError(f"the query uses ${name}, which this dashboard does not define "
                           f"(known: {', '.join(sorted(values))})")
        return values[name]
    return _VAR.sub(repl, expr)


def panel_targets(model: dict[str, Any], values: dict[str, str]
                  ) -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    """Every (panel, target, query with variables substituted) of a dashboard."""
    for panel in model.get("panels", []):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield panel, target, substitute(target["expr"], values)


@dataclass
class Series:
    """One line of a panel: its legend, times (UTC datetimes) and values."""

    legend: str
    labels: dict[str, str]
    times: pd.Series
    values: pd.Series


@dataclass
class PanelData:
    """What a panel shows: its series, or the reasons it shows none."""

    series: list[Series] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _legend(fmt: str, labels: dict[str, str], expr: str) -> str:
    if not fmt:
        inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
        return "{" + inner + "}" if labels else expr[:40]
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt).strip()


def _kind(panel: dict[str, Any], target: dict[str, Any]) -> str:
    ds = (target.get("datasource") or panel.get("datasource") or {}).get("type", "prometheus")
    return str(ds)


class Clients:
    """The Prometheus and Loki clients of one dashboard preview, taken from the lab once.

    They belong to the lab (:class:`labkit.Lab` keeps one client per service and closes
    them itself), so :meth:`close` only forgets them: closing them here would close the
    client a notebook holds as ``prom = lab.prometheus``.
    """

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self._made: dict[str, Any] = {}

    def get(self, kind: str) -> Any:
        if kind not in self._made:
            self._made[kind] = getattr(self.lab, kind)
        return self._made[kind]

    def close(self) -> None:
        self._made.clear()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_panel(panel: dict[str, Any], lab: Any, tr: TimeRange, values: dict[str, str]
              ) -> PanelData:
    """Evaluate each query of ``panel`` over ``tr``; failures become error lines, not raises.

    ``lab`` is a lab (or anything with ``prometheus`` and ``loki`` clients) or a
    :class:`Clients` of one.
    """
    if not isinstance(lab, Clients):
        with Clients(lab) as clients:
            return run_panel(panel, clients, tr, values)
    data = PanelData()
    for target in panel.get("targets", []):
        raw = target.get("expr") or ""
        try:
            expr = substitute(raw, values)
            client = lab.get("loki" if _kind(panel, target) == "loki" else "prometheus")
            if target.get("instant") and hasattr(client, "query"):
                frame = client.query(expr, time=tr.end)
            else:
                frame = client.query_range(expr, start=tr.start, end=tr.end,
                                           step=f"{tr.step:g}s")
        except (LabError, ValueError, OSError) as exc:
            data.errors.append(f"{target.get('refId', '?')}: {type(exc).__name__}: {exc}")
            continue
        if frame.empty:
            data.errors.append(f"{target.get('refId', '?')}: no data for {expr}")
            continue
        labels = [c for c in frame.columns if c not in ("timestamp", "value", "metric")]
        groups = frame.groupby(labels, dropna=False, sort=True) if labels else [((), frame)]
        for key, part in groups:
            keys = key if isinstance(key, tuple) else (key,)
            lab_map = {k: str(v) for k, v in zip(labels, keys, strict=False)
                       if isinstance(v, str) and v}
            data.series.append(Series(_legend(target.get("legendFormat", ""), lab_map, expr),
                                      lab_map, part["timestamp"], part["value"]))
    return data


def scrape_seconds(lab: Any) -> float:
    """The lab's scrape interval: 2 s in lab mode, 15 s in production mode."""
    config = getattr(lab, "config", None)
    lab_mode = getattr(config, "lab_mode", True)
    return DEFAULT_SCRAPE_S if lab_mode else parse_duration("15s")
