"""Line filters run over a chunk's whole block of lines rather than line by line.

``|= "text"`` and ``!= "text"`` look for the text in the chunk's UTF-8 block with
``bytes.find``, which is C speed, and map each hit to its line; in UTF-8 a substring of the
encoded line is exactly an encoded substring of the line. Regular expressions, patterns and
ip() filters still run per line, on the lines no earlier filter dropped. ``FilterOnly``
evaluates a metric query whose pipeline is nothing but line filters: such lines keep their
stream's labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.chunks import Chunk
from labkit.standins.loki.pipeline import ERROR, group_key
from labkit.standins.loki.store import LabelsKey, Store, Stream

Samples = dict[LabelsKey, tuple[np.ndarray, np.ndarray]]  # series -> (times, values), in read order
Failure = tuple[str, LabelsKey] | None  # (__error__, series) of the first failing sample


def filter_mask(chunk: Chunk, lo: int, hi: int, filters: Sequence[syn.LineFilter]) -> np.ndarray:
    """Which of the lines ``lo`` to ``hi`` pass every filter (a bool per line)."""
    mask = np.ones(hi - lo, dtype=bool)
    lines: list[str] | None = None
    for f in filters:
        if f.plain:
            hit = np.zeros(hi - lo, dtype=bool)
            for value in f.values:
                if value == "":
                    hit[:] = True  # every line contains the empty string
                    break
                idx = chunk.lines_with(value.encode("utf-8", "surrogatepass"))
                hit[idx[(idx >= lo) & (idx < hi)] - lo] = True
        else:
            if lines is None:
                lines = chunk.lines(lo, hi)
            hit = np.zeros(hi - lo, dtype=bool)
            for i in np.flatnonzero(mask).tolist():  # only lines still in the running
                hit[i] = any(t(lines[i]) for t in f.tests)
        mask &= hit if f.keep else ~hit
    return mask


def filter_only(stages: tuple[syn.Stage, ...], sample: str,
                grouping: syn.Grouping | None) -> FilterOnly | None:
    """A FilterOnly evaluation when the pipeline is only line filters, else None."""
    if sample == "unwrap" or not all(isinstance(st, syn.LineFilter) for st in stages):
        return None
    return FilterOnly([st for st in stages if isinstance(st, syn.LineFilter)], sample, grouping)


class FilterOnly:
    """Samples of ``count_over_time({...} |= "x" [r])`` and the like, by stream."""

    def __init__(self, filters: list[syn.LineFilter], sample: str,
                 grouping: syn.Grouping | None) -> None:
        self.filters = filters
        self.sample = sample  # count | bytes
        self.grouping = grouping

    def samples(self, store: Store, streams: list[Stream], lo_ns: int, hi_ns: int,
                tick: Callable[[], None] = lambda: None) -> tuple[Samples, Failure, int]:
        """Samples in (lo, hi] by series (in the order the full pipeline meets them), the
        first error met (kind, series) if any, and how many lines were read."""
        parts: dict[LabelsKey, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        lines = 0
        for stream in streams:
            key = group_key(dict(stream.labels), self.grouping)
            for chunk, lo, hi in store.pieces(stream, lo_ns, hi_ns, start_open=True):
                tick()  # the query's deadline
                lines += hi - lo
                idx = lo + np.flatnonzero(filter_mask(chunk, lo, hi, self.filters))
                if len(idx) == 0:
                    continue
                if key not in parts:
                    if ERROR in stream.labels:  # a stream label, as the full pipeline sees it
                        return {}, (stream.labels[ERROR], key), lines
                    parts[key] = ([], [])
                parts[key][0].append(chunk.ts[idx])
                if self.sample == "bytes":
                    parts[key][1].append(chunk.byte_lengths_at(idx))
                else:
                    parts[key][1].append(np.ones(len(idx), dtype=np.float64))
        out = {k: (np.concatenate(ts), np.concatenate(vs)) for k, (ts, vs) in parts.items()}
        return out, None, lines
