"""Vector aggregations and binary operators over step-aligned series.

``Series`` maps a sorted label tuple to one float per step (NaN: no sample at that step).
Semantics follow PromQL, which LogQL borrows: vector matching (``matching``) with
``on``/``ignoring`` and ``group_left``/``group_right``, set operators, comparisons filter
unless ``bool``, aggregations by/without.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.matching import set_operation, vector_binary

SET_OPERATORS = ("and", "or", "unless")
LabelsKey = tuple[tuple[str, str], ...]
Series = dict[LabelsKey, np.ndarray]


@dataclass
class Scalar:
    values: np.ndarray


_ARITH: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "%": np.fmod, "^": np.power,
}
_COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "==": np.equal, "!=": np.not_equal, ">": np.greater, ">=": np.greater_equal,
    "<": np.less, "<=": np.less_equal,
}


def _group(key: LabelsKey, grouping: syn.Grouping | None) -> LabelsKey:
    if grouping is None:
        return ()
    if grouping.without:
        return tuple(kv for kv in key if kv[0] not in grouping.labels)
    return tuple(kv for kv in key if kv[0] in grouping.labels)


def vector_agg(
    op: str, series: Series, grouping: syn.Grouping | None, param: float | None
) -> Series:
    """sum avg min max count stddev stdvar topk bottomk, per step, by/without labels."""
    groups: dict[LabelsKey, list[LabelsKey]] = {}
    for key in series:
        groups.setdefault(_group(key, grouping), []).append(key)
    out: Series = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for gkey, members in groups.items():
            a = np.vstack([series[k] for k in members])
            present = ~np.isnan(a)
            count = present.sum(axis=0)
            if op in ("topk", "bottomk", "approx_topk"):
                # approx_topk: Loki estimates with a count-min sketch; the exact top k is
                # the answer that sketch approximates.
                out.update(_topk(op != "bottomk", int(param or 1), members, a, present))
                continue
            total = np.where(present, a, 0.0).sum(axis=0)
            if op == "sum":
                v = total
            elif op == "avg":
                v = total / count
            elif op == "count":
                v = count.astype(np.float64)
            elif op == "min":
                v = np.fmin.reduce(a, axis=0)
            elif op == "max":
                v = np.fmax.reduce(a, axis=0)
            else:  # stddev, stdvar: population, like PromQL
                mean = total / count
                var = np.where(present, (a - mean) ** 2, 0.0).sum(axis=0) / count
                v = np.sqrt(var) if op == "stddev" else var
            v = np.where(count > 0, v, np.nan)
            if not np.isnan(v).all():
                out[gkey] = v
    return out


def _topk(
    largest: bool, k: int, members: list[LabelsKey], a: np.ndarray, present: np.ndarray
) -> Series:
    fill = -np.inf if largest else np.inf
    scores = np.where(present, a, fill)
    order = np.argsort(-scores if largest else scores, axis=0, kind="stable")
    keep = np.zeros_like(present)
    rows = order[: min(k, len(members))]
    cols = np.broadcast_to(np.arange(a.shape[1]), rows.shape)
    keep[rows, cols] = True
    keep &= present
    out: Series = {}
    for i, key in enumerate(members):
        if keep[i].any():
            out[key] = np.where(keep[i], a[i], np.nan)
    return out


def _apply(
    op: str, lhs: np.ndarray, rhs: np.ndarray, return_bool: bool, keep_lhs: bool
) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if op in _ARITH:
            return _ARITH[op](lhs, rhs)
        hit = _COMPARE[op](lhs, rhs)
        missing = np.isnan(lhs) | np.isnan(rhs)
        if return_bool:
            return np.where(missing, np.nan, hit.astype(np.float64))
        return np.where(hit & ~missing, lhs if keep_lhs else rhs, np.nan)


def binary(
    op: str,
    lhs: Series | Scalar,
    rhs: Series | Scalar,
    return_bool: bool,
    matching: syn.Matching | None,
) -> Series | Scalar:
    """``lhs op rhs``; raise ValueError when vector matching is ambiguous."""
    if op in SET_OPERATORS and (isinstance(lhs, Scalar) or isinstance(rhs, Scalar)):
        raise ValueError(f"set operator {op} not allowed in binary scalar expression")
    if isinstance(rhs, Scalar):
        if isinstance(lhs, Scalar):
            return Scalar(_apply(op, lhs.values, rhs.values, return_bool, True))
        return _prune({k: _apply(op, v, rhs.values, return_bool, True) for k, v in lhs.items()})
    if isinstance(lhs, Scalar):
        return _prune({k: _apply(op, lhs.values, v, return_bool, False) for k, v in rhs.items()})
    if op in SET_OPERATORS:
        return set_operation(op, lhs, rhs, matching)
    return vector_binary(
        lhs, rhs, matching, lambda lv, rv: _apply(op, lv, rv, return_bool, True)
    )


def _prune(series: Series) -> Series:
    return {k: v for k, v in series.items() if not np.isnan(v).all()}


