"""A faster evaluation of the common metric shape
``sum by (x) (rate({...} |= "..." | json [1m]))``.

When the series are grouped ``by`` a few labels and the pipeline is only line filters, one
``json`` parser without parameters, label filters and an unwrap, only the labels the query
reads matter: the grouping labels, the filtered and unwrapped ones, and ``__error__``.
Their values come from per-chunk columns (``jsoncols``, cached across queries), so lines are
parsed at most once. The stages after the parser depend on those labels alone, so they run
once per distinct combination of values rather than once per line, with the full
pipeline's own functions; numpy then spreads the outcome back over the lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.chunks import Chunk
from labkit.standins.loki.jsoncols import columns
from labkit.standins.loki.pipeline import ERROR, ERROR_DETAILS, Pipeline, eval_label_filter
from labkit.standins.loki.store import LabelsKey, Store, Stream

Samples = dict[LabelsKey, tuple[np.ndarray, np.ndarray]]  # series -> (times, values), in read order
Failure = tuple[str, LabelsKey] | None  # (__error__, series) of the first failing sample


def _filter_names(e: syn.LabelFilterExpr, out: set[str]) -> None:
    if isinstance(e, (syn.LabelAnd, syn.LabelOr)):
        _filter_names(e.left, out)
        _filter_names(e.right, out)
    else:
        out.add(e.name)


def projected_pipeline(
    stages: tuple[syn.Stage, ...], sample: str, grouping: syn.Grouping | None
) -> Projection | None:
    """A Projection when the query shape allows it, else None (use the full pipeline)."""
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
    needed = set(grouping.labels)
    for st in stages[j + 1 :]:
        if isinstance(st, syn.LabelFilter):
            _filter_names(st.expr, needed)
        elif isinstance(st, syn.Unwrap):
            needed.add(st.label)
        else:
            return None
    return Projection(stages, sample, j, grouping, tuple(sorted(needed | {ERROR, ERROR_DETAILS})))


@dataclass
class _Outcome:
    """What the stages after the parser make of one combination of label values."""

    key: LabelsKey | None  # the series, or None when a filter drops the line
    value: float
    error: str | None  # __error__ of the sample, which fails the query


class Projection:
    """Samples of a range aggregation, read through label columns."""

    def __init__(
        self,
        stages: tuple[syn.Stage, ...],
        sample: str,
        json_index: int,
        grouping: syn.Grouping,
        names: tuple[str, ...],
    ) -> None:
        self.pipe = Pipeline(stages, sample)
        self.filters = self.pipe.fns[:json_index]
        self.after = self.pipe.fns[json_index + 1 :]
        self.sample = sample
        self.keep = frozenset(grouping.labels) | {ERROR}
        self.names = names

    def samples(
        self, store: Store, streams: list[Stream], lo_ns: int, hi_ns: int
    ) -> tuple[Samples, Failure, int]:
        """Samples in (lo, hi] by series (in the order the full pipeline meets them), the
        first error met (kind, series) if any, and how many lines were read."""
        acc = _Acc()
        lines = 0
        for stream in streams:
            for chunk, lo, hi in store.pieces(stream, lo_ns, hi_ns, start_open=True):
                lines += hi - lo
                err = self._piece(stream, chunk, lo, hi, acc)
                if err is not None:
                    return {}, err, lines
        out = {key: (np.concatenate(ts), np.concatenate(vs)) for key, (ts, vs) in acc.parts.items()}
        return out, None, lines

    def _outcome(self, lbs: dict[str, str], base: frozenset[str]) -> _Outcome:
        for fn in self.after:
            if fn(0, "", lbs, base) is None:
                return _Outcome(None, 0.0, None)
        value = 1.0
        if self.pipe.unwrap is not None:
            value = self.pipe._unwrap(lbs)
            for lf in self.pipe.post:
                if not eval_label_filter(lf.expr, lbs):
                    return _Outcome(None, 0.0, None)
        key = tuple(sorted((k, v) for k, v in lbs.items() if v != "" and k in self.keep))
        return _Outcome(key, value, lbs.get(ERROR))

    def _piece(self, stream: Stream, chunk: Chunk, lo: int, hi: int, acc: _Acc) -> Failure:
        idx = np.arange(lo, hi)
        if self.filters:
            base = stream.base
            passed = [
                all(f(0, line, {}, base) is not None for f in self.filters)
                for line in chunk.lines(lo, hi)
            ]
            idx = idx[np.asarray(passed, dtype=bool)]
            if len(idx) == 0:
                return None
        cols = columns(chunk, self.names, stream.labels, stream.base)
        combos, inverse = _combine([c.codes for c in cols], [len(c.values) for c in cols], idx)
        outcomes = []
        for row in combos:
            lbs: dict[str, str] = {}
            for n, c, code in zip(self.names, cols, row, strict=True):
                value = c.values[code]
                if value is not None:
                    lbs[n] = value
            outcomes.append(self._outcome(lbs, stream.base))
        dropped = np.array([o.key is None for o in outcomes], dtype=bool)[inverse]
        kept = ~dropped
        idx, inverse = idx[kept], inverse[kept]
        if len(idx) == 0:
            return None
        # Series in the order of their first line, as the full pipeline creates them.
        present, first = np.unique(inverse, return_index=True)
        group_of = np.full(len(outcomes), -1, dtype=np.int64)
        for rank in np.argsort(first, kind="stable").tolist():
            o = outcomes[int(present[rank])]
            if o.error is not None and o.key not in acc.parts:
                return o.error, o.key  # type: ignore[return-value]
            group_of[int(present[rank])] = acc.group(o.key)  # type: ignore[arg-type]
        groups = group_of[inverse]
        ts = chunk.ts[idx]
        if self.sample == "bytes":
            vals = chunk.byte_lengths_at(idx)
        elif self.pipe.unwrap is not None:
            vals = np.array([o.value for o in outcomes], dtype=np.float64)[inverse]
        else:
            vals = np.ones(len(idx), dtype=np.float64)
        order = np.argsort(groups, kind="stable")  # each series keeps its lines in time order
        groups, ts, vals = groups[order], ts[order], vals[order]
        cuts = np.flatnonzero(np.diff(groups)) + 1
        for g, t, v in zip(
            groups[np.r_[0, cuts]].tolist(), np.split(ts, cuts), np.split(vals, cuts), strict=True
        ):
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


def _combine(
    codes: list[np.ndarray | None], sizes: list[int], idx: np.ndarray
) -> tuple[list[tuple[int, ...]], np.ndarray]:
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
