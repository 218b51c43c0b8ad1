"""Label columns that ``| json`` gives a chunk's lines, computed once and cached on the chunk.

For a label name, a ``Column`` holds one small integer per line of the chunk indexing a
table of values (``None``: the line does not have the label). It is exactly what the full
pipeline's json stage leaves in the line's labels under that name, starting from the
stream's labels: the parser error labels on a line that is not a JSON object, a stream
label that JSON cannot overwrite, nested keys joined with ``_``, sanitised names and the
``_extracted`` suffix. Lines whose shape makes a name ambiguous (two keys that sanitise to
it, or a nested object that could produce it) go through the full pipeline's own json stage.

Columns with few distinct values (model, level, status, user...) are kept on the chunk, so a
second query reads them without parsing; a column with too many (request ids, durations) is
used for the query at hand and dropped, which bounds the cache's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.chunks import Chunk
from labkit.standins.loki.pipeline import ERROR, ERROR_DETAILS, _json, json_value, sanitize

MAX_CACHED_VALUES = 4096  # distinct values per chunk above which a column is not kept
MAX_CACHED_COLUMNS = 16  # columns kept per chunk; the oldest goes first
SCALAR_ERROR = "Value looks like a JSON scalar, not an object"
_MISSING = object()
Plan = list[tuple[list[str], list[str]]]  # per name: keys that set it, keys whose objects could
_FULL_JSON = _json(syn.JsonParser())
_ERROR_NAMES = (ERROR, ERROR_DETAILS)
PREBUILD_SAMPLE = 256  # lines read to choose the columns built when a chunk is sealed
PREBUILD_MAX_DISTINCT = 32  # ...fields with 2 to this many values in the sample
PREBUILD_MAX_NAMES = 6
_BLOCK = 512  # lines parsed together; a block with an odd line is read line by line


@dataclass(frozen=True)
class Column:
    """Per-line codes into ``values``; ``codes`` None means every line reads ``values[0]``."""

    codes: np.ndarray | None
    values: tuple[str | None, ...]


def _target(name: str, base: frozenset[str]) -> str:
    # An extracted name clashing with a stream label lands on <name>_extracted.
    return name + "_extracted" if name in base else name


def _is_constant(name: str, base: frozenset[str]) -> bool:
    """True when the json stage can never change this stream label."""
    if name not in base or name in _ERROR_NAMES:
        return False
    return not (name.endswith("_extracted") and name[:-10] in base)


def _shape_free(name: str, base: frozenset[str]) -> bool:
    """True when only a top-level key spelt exactly ``name`` can give this label: a name
    without ``_`` is no sanitised, nested or ``_extracted`` form of another key."""
    return "_" not in name and name not in base


def _plan(keys: tuple[str, ...], names: list[str], base: frozenset[str]) -> Plan:
    """For each name, the keys that would set it directly and the keys whose nested objects
    could; how a line of this key shape is read."""
    out = []
    for name in names:
        direct = [k for k in keys if _target(sanitize(k), base) == name]
        nested = [k for k in keys if name.startswith(sanitize(k) + "_")]
        out.append((direct, nested))
    return out


def columns(
    chunk: Chunk, names: tuple[str, ...], labels: dict[str, str], base: frozenset[str]
) -> list[Column]:
    """The columns for ``names`` over every line of ``chunk`` (a chunk of the stream with
    ``labels``), from the cache where it has them."""
    cache = chunk.columns
    missing = [n for n in names if n not in cache and not _is_constant(n, base)]
    fresh = _compute(chunk, missing, labels, base) if missing else {}
    for name, col in fresh.items():
        if len(col.values) <= MAX_CACHED_VALUES:
            if len(cache) >= MAX_CACHED_COLUMNS:
                try:
                    cache.pop(next(iter(cache)))
                except (RuntimeError, StopIteration, KeyError):
                    pass  # another query changed the cache meanwhile: dropping one can wait
            cache[name] = col
    out = []
    for n in names:
        if _is_constant(n, base):
            out.append(Column(None, (labels[n],)))
        else:
            out.append(fresh[n] if n in fresh else cache[n])
    return out


def prebuild(chunk: Chunk, labels: dict[str, str], base: frozenset[str]) -> None:
    """Fill a newly sealed chunk's cache with the columns that queries most likely group or
    filter by: the top-level JSON fields taking a few different values over a sample of its
    lines (model, level, status...). Parsing once here, while the lines are pushed, keeps the
    first query over a large store fast; other names are still read when a query needs them."""
    seen: dict[str, set[Any]] = {}
    for raw in chunk.raw_lines(0, min(len(chunk), PREBUILD_SAMPLE)):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if type(obj) is not dict:
            continue
        for k, v in obj.items():
            if type(v) is not dict and type(v) is not list:
                values = seen.setdefault(_target(sanitize(k), base), set())
                if len(values) <= PREBUILD_MAX_DISTINCT:
                    values.add(v)
    # A field with one value in the sample is seldom worth grouping by; one with many is an
    # id or a measurement, whose column would not be kept anyway.
    names = [
        n
        for n, vals in seen.items()
        if 1 < len(vals) <= PREBUILD_MAX_DISTINCT
        and n not in _ERROR_NAMES
        and not _is_constant(n, base)
    ]
    if names:
        columns(chunk, (*names[:PREBUILD_MAX_NAMES], ERROR, ERROR_DETAILS), labels, base)


def _compute(
    chunk: Chunk, names: list[str], labels: dict[str, str], base: frozenset[str]
) -> dict[str, Column]:
    return _Reader(names, labels, base).run(chunk)


class _Reader:
    """Reads the columns for ``names`` from the lines of chunks of one stream."""

    def __init__(self, names: list[str], labels: dict[str, str], base: frozenset[str]) -> None:
        self.names, self.labels, self.base = names, labels, base
        # __error__ and __error_details__ rarely differ from the stream's: kept as exceptions.
        self.dense = [n for n in names if n not in _ERROR_NAMES]
        self.errs = [n for n in names if n in _ERROR_NAMES]
        self.init = [labels.get(n) for n in self.dense]
        self.free = all(_shape_free(n, base) for n in self.dense)
        self.plans: dict[tuple[str, ...], Plan] = {}  # for the dense names, by key shape
        self.full_plans: dict[tuple[str, ...], Plan] = {}  # for every name

    def run(self, chunk: Chunk) -> dict[str, Column]:
        raws = chunk.raw_lines()
        # Only a line whose bytes hold "rror" or an escape can have a key that sanitises to
        # __error__ or __error_details__: those lines get their keys checked.
        flagged = np.zeros(len(raws), dtype=bool)
        for needle in (b"\\", b"rror"):
            flagged[chunk.lines_with(needle)] = True
        values: list[list[str | None]] = [[] for _ in self.dense]
        exceptions: dict[str, dict[int, str | None]] = {n: {} for n in self.errs}
        for b0 in range(0, len(raws), _BLOCK):
            block = raws[b0 : b0 + _BLOCK]
            fast, objs = self._block(block)
            for j in range(len(self.dense)):
                values[j].extend(fast[j] if fast is not None else [None] * len(block))
            if fast is None or objs is None:
                redo = list(range(len(block)))
            else:
                redo = [
                    k
                    for k in np.flatnonzero(flagged[b0 : b0 + len(block)]).tolist()
                    if any("rror" in key for key in objs[k])
                ]
            for k in redo:
                got = self._one(block[k], objs[k] if objs is not None else _MISSING)
                for j, name in enumerate(self.dense):
                    values[j][b0 + k] = got[name]
                for name in self.errs:
                    if got[name] != self.labels.get(name):
                        exceptions[name][b0 + k] = got[name]
        out = {}
        for j, name in enumerate(self.dense):
            table: dict[str | None, int] = {self.init[j]: 0}
            for v in dict.fromkeys(values[j]):
                table.setdefault(v, len(table))
            out[name] = _column(
                table,
                np.fromiter(map(table.__getitem__, values[j]), dtype=np.int64, count=len(raws)),
            )
        for name in self.errs:
            table = {self.labels.get(name): 0}
            err_codes = np.zeros(len(raws), dtype=np.int64)
            for i, v in exceptions[name].items():
                err_codes[i] = table.setdefault(v, len(table))
            out[name] = _column(table, err_codes)
        return out

    def _block(self, block: list[bytes]) -> tuple[list[list[str | None]] | None, list[Any] | None]:
        """The dense names' values on each line of ``block`` when every line is a JSON object
        and the keys say plainly where each name comes from (else None: read line by line),
        and the parsed lines (None when one is not JSON)."""
        loads = orjson.loads
        try:
            objs = [loads(r) for r in block]
        except orjson.JSONDecodeError:
            return None, None
        if not all(type(o) is dict for o in objs):
            return None, objs
        if self.free:
            keys: list[str | None] = list(self.dense)
        else:
            shapes = set(map(tuple, objs))
            if len(shapes) != 1:
                return None, objs
            shape = shapes.pop()
            plan = self.plans.get(shape)
            if plan is None:
                plan = self.plans[shape] = _plan(shape, self.dense, self.base)
            nested = {k for _, ks in plan for k in ks}
            if any(len(direct) > 1 for direct, _ in plan) or any(
                type(o[k]) is dict for k in nested for o in objs
            ):
                return None, objs
            keys = [direct[0] if direct else None for direct, _ in plan]
        out = []
        for key, default in zip(keys, self.init, strict=True):
            if key is None:
                out.append([default] * len(objs))
                continue
            got = [o.get(key, _MISSING) for o in objs]
            out.append(
                [
                    v if type(v) is str else str(v) if type(v) is int else _value(v, default)
                    for v in got
                ]
            )
        return out, objs

    def _one(self, raw: bytes, obj: Any) -> dict[str, str | None]:
        """Every name's value on one line, with every check."""
        if obj is _MISSING:
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = None
        if type(obj) is not dict:
            return _full(
                raw, self.names, self.labels, self.base
            )  # the json stage sets the error labels
        keys = tuple(obj)
        plan = self.full_plans.get(keys)
        if plan is None:
            plan = self.full_plans[keys] = _plan(keys, self.names, self.base)
        return _read(obj, raw, plan, self.names, self.labels, self.base)


def _value(v: Any, default: str | None) -> str | None:
    if v is _MISSING or type(v) is dict or type(v) is list:
        return default
    return json_value(v)


def _column(table: dict[str | None, int], codes: list[int] | np.ndarray) -> Column:
    values = tuple(table)
    if len(values) == 1:
        return Column(None, values)
    return Column(np.asarray(codes, dtype=np.uint16 if len(values) <= 65535 else np.uint32), values)


def _full(
    raw: bytes, names: list[str], labels: dict[str, str], base: frozenset[str]
) -> dict[str, str | None]:
    """What the full pipeline's json stage leaves under ``names``."""
    lbs = dict(labels)
    _FULL_JSON(0, raw.decode("utf-8", "surrogatepass"), lbs, base)
    return {n: lbs.get(n) for n in names}


def _read(
    obj: dict[str, Any],
    raw: bytes,
    plan: Plan,
    names: list[str],
    labels: dict[str, str],
    base: frozenset[str],
) -> dict[str, str | None]:
    got: dict[str, str | None] = {}
    for name, (direct, nested) in zip(names, plan, strict=True):
        if len(direct) > 1 or any(type(obj[k]) is dict for k in nested):
            return _full(raw, names, labels, base)  # ambiguous: let the full json stage decide
        got[name] = labels.get(name)
        if direct:
            v = obj[direct[0]]
            if type(v) is not dict and type(v) is not list:
                got[name] = json_value(v)
    return got
