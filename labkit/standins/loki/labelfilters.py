"""Label filters (``| status >= 500``, ``| d > 250ms``, ``| addr = ip("...")``) and the
error labels a pipeline stage sets when it cannot read a line."""

from __future__ import annotations

from collections.abc import Callable

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.units import go_duration_seconds, parse_bytes

ERROR = "__error__"
ERROR_DETAILS = "__error_details__"


def set_error(lbs: dict[str, str], kind: str, details: str) -> None:
    """Record the first error of a line (later stages keep it)."""
    if ERROR not in lbs:
        lbs[ERROR] = kind
        lbs[ERROR_DETAILS] = details


_CMP: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
_CONVERT: dict[str, Callable[[str], float | None]] = {
    "number": lambda s: go_float(s),
    "duration": go_duration_seconds,
    "bytes": parse_bytes,
}


def go_float(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def eval_label_filter(e: syn.LabelFilterExpr, lbs: dict[str, str]) -> bool:
    """Does the line pass? A value that cannot be read sets LabelFilterErr and passes."""
    if isinstance(e, syn.LabelAnd):
        return eval_label_filter(e.left, lbs) and eval_label_filter(e.right, lbs)
    if isinstance(e, syn.LabelOr):
        return eval_label_filter(e.left, lbs) or eval_label_filter(e.right, lbs)
    if e.kind == "string":
        assert e.matcher is not None
        return e.matcher.matches(lbs.get(e.name, ""))
    if ERROR in lbs:
        return True  # only string matchers can filter lines that already failed
    if e.kind == "ip":
        assert e.test is not None
        if e.name not in lbs:
            return False
        return e.test(lbs[e.name]) == (e.op == "=")
    raw = lbs.get(e.name)
    if raw is None:
        return e.op == "!="
    value = _CONVERT[e.kind](raw)
    if value is None:
        set_error(lbs, "LabelFilterErr", f"cannot read {raw!r} as a {e.kind}")
        return True
    return _CMP[e.op](value, e.value)  # type: ignore[arg-type]
