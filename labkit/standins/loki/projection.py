"""A faster evaluation of the common metric shape
``sum by (x) (rate({...} |= "..." | json [1m]))``.

When the series are grouped ``by`` a few labels and the pipeline is only line filters, one
``json`` parser without parameters, label filters and an unwrap, only the labels the query
reads matter: the grouping labels, the filtered and unwrapped ones, and ``__error__``.
Their values come from per-chunk columns (``jsoncols``, cached across queries), so lines are
parsed at most once. The stages after the parser depend on those labels alone, so they run
once per distinct combination of values rather than once per line, with the full
pipeline's own functions; numpy then spreads the outcome back over the lines. An unwrapped
label (a duration, a token count) takes a new value on nearly every line: when nothing but
the unwrap reads it, it is converted once per distinct value and left out of the
combinations, which then only record whether it could be read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.chunks import Chunk
from labkit.standins.loki.jsoncols import Column, columns
from labkit.standins.loki.linefilters import (
    Failure,
    FilterOnly,
    Samples,
    filter_mask,
    filter_only,
)
from labkit.standins.loki.pipeline import ERROR, ERROR_DETAILS, Pipeline, eval_label_filter
from labkit.standins.loki.store import LabelsKey, Store, Stream


def _filter_names(e: syn.LabelFilterExpr, out: set[str]) -> None:
    if isinstance(e, (syn.LabelAnd, syn.LabelOr)):
        _filter_names(e.left, out)
        _filter_names(e.right, out)
    else:
        out.add(e.name)


def projected_pipeline(stages: tuple[syn.Stage, ...], sample: str,
                       grouping: syn.Grouping | None) -> Projection | FilterOnly | None:
    """A faster evaluation when the query shape allows one, else None (use the full pipeline)."""
    only = filter_only(stages, sample, grouping)
    if only is not None:
        return only
    if grouping is None or grouping.without:
        return None
    kinds = [type(s) for s in stages]
    if kinds.count(syn.JsonParser) != 1:
        return None
    j = kinds.index(syn.JsonParser)
    json_stage = stages[j]
    assert isinstance(json_stage, syn.JsonParser)
    if json_stage.params or any(k is not syn.LineFilter for k in kinds[:j]):
        return None
    filtered: set[str] = set()
    unwrapped = None
    for st in stages[j + 1:]:
        if isinstance(st, syn.LabelFilter):
            _filter_names(st.expr, filtered)
        elif isinstance(st, syn.Unwrap):
            unwrapped = st.label
        else:
            return None
    needed = set(grouping.labels) | filtered | {ERROR, ERROR_DETAILS}
    # The unwrapped label is set apart when only the unwrap reads it (its error details,
    # which name the value, must not be read either).
    apart = (unwrapped is not None and unwrapped not in needed
             and ERROR_DETAILS not in filtered | set(grouping.labels))
    if unwrapped is not None and not apart:
        needed.add(unwrapped)
    filters = [st for st in stages[:j] if isinstance(st, syn.LineFilter)]
    return Projection(stages, sample, j, filters, grouping, tuple(sorted(needed)),
                      unwrapped if apart else None)


@dataclass
class _Outcome:
    """What the stages after the parser make of one combination of label values."""

    key: LabelsKey | None  # the series, or None when a filter drops the line
    value: float
    error: str | None  # __error__ of the sample, which fails the query
    converted: bool  # the unwrap read the label (no earlier error): the value is the label's


class Projection:
    """Samples of a range aggregation, read through label columns."""

    def __init__(self, stages: tuple[syn.Stage, ...], sample: str, json_index: int,
                 filters: list[syn.LineFilter], grouping: syn.Grouping, names: tuple[str, ...],
                 apart: str | None) -> None:
        self.pipe = Pipeline(stages, sample)
        self.filters = filters
        self.after = self.pipe.fns[json_index + 1:]
        self.sample = sample
        self.keep = frozenset(grouping.labels) | {ERROR}
        self.names = names
        self.apart = apart  # the unwrapped label, when read only by the unwrap

    def samples(self, store: Store, streams: list[Stream], lo_ns: int, hi_ns: int,
                tick: Callable[[], None] = lambda: None) -> tuple[Samples, Failure, int]:
        """Samples in (lo, hi] by series (in the order the full pipeline meets them), the
        first error met (kind, series) if any, and how many lines were read."""
        acc = _Acc()
        lines = 0
        for stream in streams:
            for chunk, lo, hi in store.pieces(stream, lo_ns, hi_ns, start_open=True):
                tick()  # the query's deadline
                lines += hi - lo
                err = self._piece(stream, chunk, lo, hi, acc)
                if err is not None:
                    return {}, err, lines
        out = {key: (np.concatenate(ts), np.concatenate(vs)) for key, (ts, vs) in acc.parts.items()}
        return out, None, lines

    def _outcome(self, lbs: dict[str, str], base: frozenset[str]) -> _Outcome:
        for fn in self.after:
            if fn(0, "", lbs, base) is None:
                return _Outcome(None, 0.0, None, False)
        value, converted = 1.0, False
        if self.pipe.unwrap is not None:
            converted = ERROR not in lbs
            value = self.pipe._unwrap(lbs)
            for lf in self.pipe.post:
                if not eval_label_filter(lf.expr, lbs):
                    return _Outcome(None, 0.0, None, False)
        key = tuple(sorted((k, v) for k, v in lbs.items() if v != "" and k in self.keep))
        return _Outcome(key, value, lbs.get(ERROR), converted)

    def _piece(self, stream: Stream, chunk: Chunk, lo: int, hi: int, acc: _Acc) -> Failure:
        idx = np.arange(lo, hi)
        if self.filters:
            idx = idx[filter_mask(chunk, lo, hi, self.filters)]
            if len(idx) == 0:
                return None
        names = self.names if self.apart is None else (*self.names, self.apart)
        cols = columns(chunk, names, stream.labels, stream.base)
        if self.apart is not None:
            # Its distinct values read once; in the combinations, a stand-in that reads (any
            # such value) or none (absent), the only difference the later stages can see.
            read = [self.pipe.convert(v) for v in cols[-1].values]
            values = np.array([np.nan if r is None else r for r in read], dtype=np.float64)
            readable = np.array([r is not None for r in read], dtype=np.int64)
            stand_in = next(
                (v for v, r in zip(cols[-1].values, read, strict=True) if r is not None), None
            )
            codes = cols[-1].codes if cols[-1].codes is not None else np.zeros(len(chunk), np.int64)
            cols[-1] = Column(readable[codes], (None, stand_in))
        combos, inverse = _combine([c.codes for c in cols], [len(c.values) for c in cols], idx)
        outcomes = []
        for row in combos:
            lbs: dict[str, str] = {}
            for n, c, code in zip(names, cols, row, strict=True):
                value = c.values[code]
                if value is not None:
                    lbs[n] = value
            outcomes.append(self._outcome(lbs, stream.base))
        kept = ~np.array([o.key is None for o in outcomes], dtype=bool)[inverse]
        idx, inverse = idx[kept], inverse[kept]
        if len(idx) == 0:
            return None
        # Series in the order of their first line, as the full pipeline creates them.
        present, first = np.unique(inverse, return_index=True)
        group_of = np.full(len(outcomes), -1, dtype=np.int64)
        for rank in np.argsort(first, kind="stable").tolist():
            o = outcomes[int(present[rank])]
            assert o.key is not None
            if o.error is not None and o.key not in acc.parts:
                return o.error, o.key
            group_of[int(present[rank])] = acc.group(o.key)
        groups = group_of[inverse]
        ts = chunk.ts[idx]
        if self.sample == "bytes":
            vals = chunk.byte_lengths_at(idx)
        elif self.pipe.unwrap is not None:
            vals = np.array([o.value for o in outcomes], dtype=np.float64)[inverse]
            if self.apart is not None:
                line_codes = codes[idx]
                use = np.array([o.converted for o in outcomes], dtype=bool)[inverse]
                vals = np.where(use, values[line_codes], vals)
        else:
            vals = np.ones(len(idx), dtype=np.float64)
        order = np.argsort(groups, kind="stable")  # each series keeps its lines in time order
        groups, ts, vals = groups[order], ts[order], vals[order]
        cuts = np.flatnonzero(np.diff(groups)) + 1
        for g, t, v in zip(groups[np.r_[0, cuts]].tolist(), np.split(ts, cuts),
                           np.split(vals, cuts), strict=True):
            part = acc.parts[acc.keys[g]]
            part[0].append(t)
            part[1].append(v)
        return None


class _Acc:
    """Series met so far, in order, with their pieces of samples."""

    def __init__(self) -> None:
        self.keys: list[LabelsKey] = []
        self.index: dict[LabelsKey, int] = {}
        self.parts: dict[LabelsKey, tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def group(self, key: LabelsKey) -> int:
        g = self.index.get(key)
        if g is None:
            g = self.index[key] = len(self.keys)
            self.keys.append(key)
            self.parts[key] = ([], [])
        return g


def _combine(codes: list[np.ndarray | None], sizes: list[int],
             idx: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """The distinct rows of per-line codes (lines ``idx``), and each line's row number."""
    varying = [(j, c[idx].astype(np.int64)) for j, c in enumerate(codes) if c is not None]
    width = len(codes)
    if not varying:
        return [(0,) * width], np.zeros(len(idx), dtype=np.int64)
    radix = 1
    for j, _ in varying:
        radix *= sizes[j]
    if radix < 2**62:  # one int64 per line: cheaper than unique over rows
        mixed = np.zeros(len(idx), dtype=np.int64)
        stride = 1
        for j, c in varying:
            mixed += c * stride
            stride *= sizes[j]
        uniq, inverse = np.unique(mixed, return_inverse=True)
        rows = []
        for u in uniq.tolist():
            row = [0] * width
            for j, _ in varying:
                u, row[j] = divmod(u, sizes[j])
            rows.append(tuple(row))
        return rows, inverse.reshape(-1)
    stacked = np.stack([c for _, c in varying], axis=1)
    uniq_rows, inverse = np.unique(stacked, axis=0, return_inverse=True)
    rows = []
    for r in uniq_rows.tolist():
        row = [0] * width
        for (j, _), code in zip(varying, r, strict=True):
            row[j] = code
        rows.append(tuple(row))
    return rows, inverse.reshape(-1)
