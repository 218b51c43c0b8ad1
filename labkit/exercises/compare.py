"""Compare a learner's answer with a reference by *results*.

Two queries are the same answer when, evaluated on the same data at the same
instant, they return the same series (label sets) with the same values, within a
tolerance. A string match is never used, so ``sum(rate(x[1m]))`` and
``sum by () (rate(x[1m]))`` both pass.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from labkit.exercises.core import CheckFailed, Outcome

__all__ = ["Key", "Samples", "close_to", "compare_samples", "fmt_key", "frame_samples",
           "series_key"]

IGNORED_LABELS = {"timestamp", "value", "metric"}

Key = tuple[tuple[str, str], ...]
Samples = dict[Key, float]  # one value per series, keyed by its sorted label pairs


def series_key(row: pd.Series, labels: list[str]) -> Key:
    return tuple((k, str(row[k])) for k in labels if isinstance(row.get(k), str) and row[k])


def frame_samples(frame: pd.DataFrame) -> Samples:
    """A query's frame (one row per series) as samples keyed by label set."""
    labels = sorted(c for c in frame.columns if c not in IGNORED_LABELS)
    return {series_key(row, labels): float(row["value"]) for _, row in frame.iterrows()}


def fmt_key(key: Key) -> str:
    """A series key as PromQL/LogQL label braces."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


def compare_samples(got: Samples, want: Samples, *, rel: float = 1e-6,
                    abs_tol: float = 1e-9) -> Outcome:
    """Same label sets, and values within tolerance (NaN equals NaN)."""
    if set(got) != set(want):
        missing = [fmt_key(k) for k in want if k not in got][:3]
        extra = [fmt_key(k) for k in got if k not in want][:3]
        parts = [f"your query returned {len(got)} series, the answer has {len(want)}"]
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        return Outcome(False, "; ".join(parts))
    for key, value in want.items():
        mine = got[key]
        both_nan = math.isnan(value) and math.isnan(mine)
        if not both_nan and not math.isclose(mine, value, rel_tol=rel, abs_tol=abs_tol):
            return Outcome(False, f"{fmt_key(key)}: your value {mine:.6g}, expected {value:.6g}")
    values = ", ".join(f"{v:.4g}" for v in list(want.values())[:3])
    return Outcome(True, f"same result as the reference ({len(want)} series: {values})")


def close_to(answer: Any, expected: float, *, rel: float = 0.05, abs_tol: float = 0.0,
             unit: str = "") -> Outcome:
    """A number within ``rel`` (relative) or ``abs_tol`` of the live value."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise CheckFailed(f"expected a number, got {answer!r}") from None
    if math.isclose(value, expected, rel_tol=rel, abs_tol=abs_tol):
        return Outcome(True, f"{value:.4g}{unit} matches the live value {expected:.4g}{unit}")
    return Outcome(False, f"{value:.4g}{unit} is not within {rel:.0%} of the live value "
                          f"{expected:.4g}{unit}")
