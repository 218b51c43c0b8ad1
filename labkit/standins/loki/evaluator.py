"""Evaluate LogQL against a Store: log queries into streams, metric queries into series.

A metric result is a ``Series`` map from a sorted label tuple to a float array with one
slot per evaluation step (NaN where the series has no sample), or a ``Scalar``.
Range windows are (t - range - offset, t - offset], as in Loki.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.limits import Deadline
from labkit.standins.loki.linefilters import Samples
from labkit.standins.loki.matching import label_replace
from labkit.standins.loki.pipeline import ERROR, Pipeline, group_key
from labkit.standins.loki.projection import projected_pipeline
from labkit.standins.loki.rangefns import RANGE_FUNCTIONS
from labkit.standins.loki.store import LabelsKey, Store, Stream, labels_string
from labkit.standins.loki.vectors import Scalar, Series, binary, vector_agg

MAX_POINTS = 11000


class EvalError(ValueError):
    """The query cannot be answered (pipeline error, too many points...): a 400."""


@dataclass
class Stats:
    lines: int = 0
    bytes: int = 0
    entries_returned: int = 0
    extra: dict[str, float] = field(default_factory=dict)
    deadline: Deadline = field(default_factory=lambda: Deadline(None))

    def tick(self) -> None:
        """Raise QueryTimeout when the query's budget is spent (called as lines are read)."""
        self.deadline.check()


def pipeline_error(kind: str, labels: LabelsKey) -> EvalError:
    return EvalError(
        f"pipeline error: '{kind}' for series: '{labels_string(labels)}'.\n"
        f'Use a label filter to intentionally skip this error. (e.g | __error__!="{kind}").\n'
        'To skip all potential errors you can match empty errors.(e.g __error__="")\n'
        "The label filter can also be specified after unwrap. "
        '(e.g | unwrap latency | __error__="" )\n'
    )


# ---- log queries ----------------------------------------------------------------


def select_logs(
    store: Store, q: syn.LogQuery, start_ns: int, end_ns: int, limit: int, forward: bool,
    stats: Stats,
) -> list[tuple[LabelsKey, list[tuple[int, str]]]]:
    """Up to ``limit`` entries in [start, end), the oldest (forward) or newest, by stream."""
    pipe = Pipeline(q.stages)
    picked: list[tuple[int, int, str, LabelsKey]] = []  # (sort key, seq, line, labels)
    seq = 0
    for stream in store.select(q.selector):
        pieces = store.pieces(stream, start_ns, end_ns, start_open=False)
        taken = 0
        for chunk, lo, hi in pieces if forward else reversed(pieces):
            stats.tick()
            tsl = chunk.ts[lo:hi].tolist()
            lines = chunk.lines(lo, hi)
            idx = range(len(lines)) if forward else range(len(lines) - 1, -1, -1)
            for i in idx:
                stats.lines += 1
                if not stats.lines & 1023:
                    stats.tick()
                stats.bytes += len(lines[i])
                out = pipe.run(tsl[i], lines[i], stream.labels, stream.base)
                if out is None:
                    continue
                line, lbs, _ = out
                key = tuple(sorted((k, v) for k, v in lbs.items() if v != ""))
                t = tsl[i]
                item = (t if forward else -t, seq, line, key)
                seq += 1
                if len(picked) < limit:
                    heapq.heappush(picked, (-item[0], -item[1], line, key))  # max-heap on sort key
                elif item[0] < -picked[0][0]:
                    heapq.heapreplace(picked, (-item[0], -item[1], line, key))
                taken += 1
                if taken >= limit:
                    break  # this stream cannot contribute more than `limit` entries
            if taken >= limit:
                break
    by_stream: dict[LabelsKey, list[tuple[int, str]]] = {}
    for neg_sort, _neg_seq, line, key in sorted(picked, key=lambda p: (-p[0], -p[1])):
        by_stream.setdefault(key, []).append((-neg_sort if forward else neg_sort, line))
    for values in by_stream.values():
        values.sort(key=lambda e: e[0], reverse=not forward)
    stats.entries_returned = len(picked)
    return sorted(by_stream.items(), key=lambda kv: kv[0])


# ---- metric queries -------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """Evaluation timestamps in ns."""

    steps: np.ndarray

    @classmethod
    def instant(cls, t_ns: int) -> Grid:
        return cls(np.array([t_ns], dtype=np.int64))

    @classmethod
    def range(cls, start_ns: int, end_ns: int, step_ns: int) -> Grid:
        n = (end_ns - start_ns) // step_ns + 1
        if n > MAX_POINTS:
            raise EvalError(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        return cls(start_ns + step_ns * np.arange(n, dtype=np.int64))


def evaluate(store: Store, expr: syn.Expr, grid: Grid, stats: Stats) -> Series | Scalar:
    """Evaluate a metric expression on every step of ``grid``."""
    n = len(grid.steps)
    if isinstance(expr, syn.NumberLit):
        return Scalar(np.full(n, expr.value))
    if isinstance(expr, syn.VectorLit):
        return {(): np.full(n, expr.value)}
    if isinstance(expr, syn.RangeAgg):
        return range_agg(store, expr, grid, stats)
    if isinstance(expr, syn.VectorAgg):
        pushed = _push_down(expr)
        inner = evaluate(store, pushed, grid, stats)
        if isinstance(inner, Scalar):
            raise EvalError(
                f"parse error : unexpected scalar in {expr.op} aggregation, expecting a vector"
            )
        return vector_agg(expr.op, inner, expr.grouping, expr.param)
    if isinstance(expr, syn.LabelReplace):
        inner = evaluate(store, expr.expr, grid, stats)
        if isinstance(inner, Scalar):
            raise EvalError("label_replace expects a vector, got a scalar")
        try:
            return label_replace(inner, expr)
        except ValueError as exc:
            raise EvalError(str(exc)) from None
    if isinstance(expr, syn.BinOp):
        lhs = evaluate(store, expr.lhs, grid, stats)
        rhs = evaluate(store, expr.rhs, grid, stats)
        try:
            return binary(expr.op, lhs, rhs, expr.return_bool, expr.matching)
        except ValueError as exc:
            raise EvalError(str(exc)) from None
    raise EvalError(f"unsupported expression {expr!r}")


# Aggregations that give the same answer whether samples are grouped before or after the
# range function: summing per-series counts equals counting the grouped samples.
_PUSHABLE = {
    ("sum", "count_over_time"),
    ("sum", "rate"),
    ("sum", "bytes_over_time"),
    ("sum", "bytes_rate"),
    ("sum", "sum_over_time"),
    ("max", "max_over_time"),
    ("min", "min_over_time"),
}


def _push_down(agg: syn.VectorAgg) -> syn.Expr:
    """Group a linear range aggregation's samples early, so per-line labels never become series."""
    inner = agg.expr
    pushable = (agg.op, inner.fn) in _PUSHABLE if isinstance(inner, syn.RangeAgg) else False
    if isinstance(inner, syn.RangeAgg) and inner.grouping is None and pushable:
        grouping = agg.grouping or syn.Grouping(False, ())
        return syn.RangeAgg(
            inner.fn, inner.query, inner.range_ns, inner.offset_ns, inner.param, grouping
        )
    return inner


def range_agg(store: Store, agg: syn.RangeAgg, grid: Grid, stats: Stats) -> Series:
    """Apply a range aggregation at every step of the grid."""
    steps = grid.steps
    hi_t = steps - agg.offset_ns
    lo_t = hi_t - agg.range_ns
    sample = (
        "unwrap" if agg.unwrap is not None else ("bytes" if agg.fn.startswith("bytes") else "count")
    )
    streams = store.select(agg.query.selector)
    lo_ns, hi_ns = int(lo_t[0]), int(hi_t[-1])
    proj = projected_pipeline(agg.query.stages, sample, agg.grouping)
    if proj is not None:
        samples, failure, lines = proj.samples(store, streams, lo_ns, hi_ns, stats.tick)
        stats.lines += lines
        if failure is not None:
            raise pipeline_error(*failure)
    else:
        samples = _samples(
            store, streams, Pipeline(agg.query.stages, sample), agg.grouping, lo_ns, hi_ns, stats
        )
    if agg.fn == "absent_over_time":
        return _absent(agg, samples, lo_t, hi_t)
    fn = RANGE_FUNCTIONS[agg.fn]
    range_s = agg.range_ns / 1e9
    result: Series = {}
    for key, (ts_arr, vals) in samples.items():
        if len(ts_arr) > 1 and bool((ts_arr[1:] < ts_arr[:-1]).any()):
            order = np.argsort(ts_arr, kind="stable")
            ts_arr, vals = ts_arr[order], vals[order]
        lo = np.searchsorted(ts_arr, lo_t, "right")
        hi = np.searchsorted(ts_arr, hi_t, "right")
        out = fn(vals, lo, hi, range_s, agg)
        if not np.isnan(out).all():
            result[key] = out
    return result


def _samples(
    store: Store,
    streams: list[Stream],
    pipe: Pipeline,
    grouping: syn.Grouping | None,
    lo_ns: int,
    hi_ns: int,
    stats: Stats,
) -> Samples:
    """Every line in (lo, hi] through the full pipeline, as samples by series."""
    samples: dict[LabelsKey, tuple[list[int], list[float]]] = {}
    for stream in streams:
        for chunk, lo, hi in store.pieces(stream, lo_ns, hi_ns, start_open=True):
            stats.tick()
            lines = chunk.lines(lo, hi)
            stats.lines += len(lines)
            for n, (t, line) in enumerate(zip(chunk.ts[lo:hi].tolist(), lines, strict=True)):
                if not n & 1023:
                    stats.tick()
                out = pipe.run(t, line, stream.labels, stream.base)
                if out is None:
                    continue
                _, lbs, value = out
                key = group_key(lbs, grouping)
                bucket = samples.get(key)
                if bucket is None:
                    if ERROR in lbs:
                        raise pipeline_error(lbs[ERROR], key)
                    bucket = samples[key] = ([], [])
                bucket[0].append(t)
                bucket[1].append(value)
    return {
        key: (np.asarray(tl, dtype=np.int64), np.asarray(vl, dtype=np.float64))
        for key, (tl, vl) in samples.items()
    }


def _absent(agg: syn.RangeAgg, samples: Samples, lo_t: np.ndarray, hi_t: np.ndarray) -> Series:
    present = np.zeros(len(lo_t), dtype=bool)
    for ts_arr, _ in samples.values():
        arr = np.sort(ts_arr)
        present |= np.searchsorted(arr, hi_t, "right") > np.searchsorted(arr, lo_t, "right")
    if present.all():
        return {}
    labels = tuple(sorted((m.name, m.value) for m in agg.query.selector if m.op == "="))
    return {labels: np.where(present, np.nan, 1.0)}
