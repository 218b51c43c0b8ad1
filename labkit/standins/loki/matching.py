"""Vector matching for binary operators, step by step, as PromQL (and so LogQL) defines it.

Arithmetic and comparisons pair each series of the "many" side with the series of the
"one" side that has the same signature (all labels, or those of ``on(...)``, or all but
those of ``ignoring(...)``). One-to-one is the default; ``group_left(l...)`` lets several
left series share one right series and copies the labels ``l`` from it (``group_right``
the mirror). The set operators ``and``, ``or`` and ``unless`` keep or drop whole samples by
whether a series with the same signature has a sample at that step. Errors use
Prometheus's words (``many-to-many matching not allowed``...).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labkit.standins.loki import syntax as syn

LabelsKey = tuple[tuple[str, str], ...]
Series = dict[LabelsKey, np.ndarray]
Apply = Callable[[np.ndarray, np.ndarray], np.ndarray]


def signature(key: LabelsKey, matching: syn.Matching | None) -> LabelsKey:
    if matching is None:
        return key
    if matching.on:
        return tuple(kv for kv in key if kv[0] in matching.labels)
    return tuple(kv for kv in key if kv[0] not in matching.labels)


def _fmt(key: LabelsKey) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


def _present(v: np.ndarray) -> np.ndarray:
    return ~np.isnan(v)


def _result_key(many: LabelsKey, one: LabelsKey, m: syn.Matching | None) -> LabelsKey:
    if m is None:
        return many
    labels = dict(many)
    if m.card == "one-to-one":
        labels = dict(signature(many, m))
    one_labels = dict(one)
    for name in m.include:
        if one_labels.get(name):
            labels[name] = one_labels[name]
        else:
            labels.pop(name, None)
    return tuple(sorted(labels.items()))


def vector_binary(lhs: Series, rhs: Series, m: syn.Matching | None, apply: Apply) -> Series:
    """``lhs op rhs`` between two vectors; ``apply(l, r)`` computes one pair's values."""
    card = m.card if m is not None else "one-to-one"
    many, one = (rhs, lhs) if card == "one-to-many" else (lhs, rhs)
    one_side = "left" if card == "one-to-many" else "right"
    ones: dict[LabelsKey, list[tuple[LabelsKey, np.ndarray]]] = {}
    for key, v in one.items():
        sig = signature(key, m)
        for _, other in ones.get(sig, []):
            if bool((_present(other) & _present(v)).any()):
                raise ValueError(
                    f"found duplicate series for the match group {_fmt(sig)} on the {one_side} "
                    "hand-side of the operation: many-to-many matching not allowed: "
                    "matching labels must be unique on one side"
                )
        ones.setdefault(sig, []).append((key, v))
    out: Series = {}
    matched: dict[LabelsKey, np.ndarray] = {}  # one-to-one: steps a signature was used at
    for key, mv in many.items():
        sig = signature(key, m)
        for okey, ov in ones.get(sig, []):
            both = _present(mv) & _present(ov)
            if not both.any():
                continue
            if card == "one-to-one":
                if sig in matched and bool((matched[sig] & both).any()):
                    raise ValueError(
                        "multiple matches for labels: many-to-one matching must be explicit "
                        f"(group_left/group_right) for {_fmt(sig)}"
                    )
                matched[sig] = matched.get(sig, np.zeros_like(both)) | both
            lv, rv = (ov, mv) if card == "one-to-many" else (mv, ov)
            values = np.where(both, apply(lv, rv), np.nan)
            rkey = _result_key(key, okey, m)
            if rkey in out:
                if card != "one-to-one" and bool((_present(out[rkey]) & _present(values)).any()):
                    raise ValueError(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                    )
                values = np.where(np.isnan(values), out[rkey], values)
            out[rkey] = values
    return {k: v for k, v in out.items() if not np.isnan(v).all()}


def set_operation(op: str, lhs: Series, rhs: Series, m: syn.Matching | None) -> Series:
    """``and``, ``or``, ``unless`` between two vectors, step by step."""
    n = len(next(iter(lhs.values() or rhs.values() or [np.zeros(0)])))

    def seen(side: Series) -> dict[LabelsKey, np.ndarray]:
        out: dict[LabelsKey, np.ndarray] = {}
        for key, v in side.items():
            sig = signature(key, m)
            out[sig] = out.get(sig, np.zeros(n, dtype=bool)) | _present(v)
        return out

    if op == "or":
        left = seen(lhs)
        out = dict(lhs)
        for key, v in rhs.items():
            taken = left.get(signature(key, m), np.zeros(n, dtype=bool))
            kept = np.where(taken, np.nan, v)
            if key in out:
                kept = np.where(np.isnan(kept), out[key], kept)
            out[key] = kept
        return {k: v for k, v in out.items() if not np.isnan(v).all()}
    right = seen(rhs)
    result: Series = {}
    for key, v in lhs.items():
        hit = right.get(signature(key, m), np.zeros(n, dtype=bool))
        kept = np.where(hit if op == "and" else ~hit, v, np.nan)
        if not np.isnan(kept).all():
            result[key] = kept
    return result


def label_replace(series: Series, e: syn.LabelReplace) -> Series:
    """Prometheus's label_replace: a full match of ``regex`` on ``src`` sets ``dst`` to the
    expanded replacement (an empty result removes it); other series pass unchanged."""
    from labkit.standins.loki.regex import expand

    names = dict(e.regex.groupindex)
    out: Series = {}
    for key, v in series.items():
        labels = dict(key)
        m = e.regex.search(labels.get(e.src, ""))
        if m is not None:
            value = expand(e.replacement, m, names)
            if value:
                labels[e.dst] = value
            else:
                labels.pop(e.dst, None)
        new = tuple(sorted(labels.items()))
        if new in out:
            if bool((_present(out[new]) & _present(v)).any()):
                raise ValueError("vector cannot contain metrics with the same labelset")
            v = np.where(np.isnan(v), out[new], v)
        out[new] = v
    return out
