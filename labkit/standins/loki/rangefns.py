"""The functions a range aggregation applies to each window of samples.

Each takes the window's values (sorted by time), the per-step index bounds ``lo``/``hi`` of
the windows in them, the range in seconds and the aggregation, and gives one float per step
(NaN for an empty window). Counts and byte sums use cumulative sums over all steps at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from labkit.standins.loki import syntax as syn

RangeFn = Callable[[np.ndarray, np.ndarray, np.ndarray, float, syn.RangeAgg], np.ndarray]


def _windowed(per_window: Callable[[np.ndarray], float]) -> RangeFn:
    def fn(
        vals: np.ndarray, lo: np.ndarray, hi: np.ndarray, range_s: float, agg: syn.RangeAgg
    ) -> np.ndarray:
        out = np.full(len(lo), np.nan)
        for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
            if b > a:
                out[i] = per_window(vals[a:b])
        return out

    return fn


def _counted(scale: Callable[[np.ndarray, float], np.ndarray], use_values: bool) -> RangeFn:
    def fn(
        vals: np.ndarray, lo: np.ndarray, hi: np.ndarray, range_s: float, agg: syn.RangeAgg
    ) -> np.ndarray:
        n = hi - lo
        if use_values:  # byte counts are integers: cumulative sums stay exact
            cs = np.concatenate([[0.0], np.cumsum(vals)])
            total = cs[hi] - cs[lo]
        else:
            total = n.astype(np.float64)
        return np.where(n > 0, scale(total, range_s), np.nan)

    return fn


def _seq_sum(v: np.ndarray) -> float:
    return math.fsum(v.tolist()) if len(v) < 64 else float(np.sum(v))


def _quantile(v: np.ndarray, q: float) -> float:
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    s = np.sort(v)
    rank = q * (len(s) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(s) - 1)
    w = rank - lo
    return float(s[lo] * (1 - w) + s[hi] * w)


def _rate(
    vals: np.ndarray, lo: np.ndarray, hi: np.ndarray, range_s: float, agg: syn.RangeAgg
) -> np.ndarray:
    if agg.unwrap is not None:  # unwrapped rate: the sum of the values per second of range
        return _windowed(lambda v: _seq_sum(v) / range_s)(vals, lo, hi, range_s, agg)
    return _counted(lambda total, r: total / r, False)(vals, lo, hi, range_s, agg)


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "count_over_time": _counted(lambda total, r: total, False),
    "rate": _rate,
    "bytes_over_time": _counted(lambda total, r: total, True),
    "bytes_rate": _counted(lambda total, r: total / r, True),
    "sum_over_time": _windowed(_seq_sum),
    "avg_over_time": _windowed(lambda v: _seq_sum(v) / len(v)),
    "min_over_time": _windowed(lambda v: float(np.min(v))),
    "max_over_time": _windowed(lambda v: float(np.max(v))),
    "stddev_over_time": _windowed(lambda v: float(np.std(v))),
    "stdvar_over_time": _windowed(lambda v: float(np.var(v))),
    "first_over_time": _windowed(lambda v: float(v[0])),
    "last_over_time": _windowed(lambda v: float(v[-1])),
}


def _quantile_fn(
    vals: np.ndarray, lo: np.ndarray, hi: np.ndarray, range_s: float, agg: syn.RangeAgg
) -> np.ndarray:
    q = float(agg.param if agg.param is not None else 0.0)
    return _windowed(lambda v: _quantile(v, q))(vals, lo, hi, range_s, agg)


RANGE_FUNCTIONS["quantile_over_time"] = _quantile_fn
