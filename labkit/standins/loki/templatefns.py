"""The functions Loki's ``line_format``/``label_format`` templates offer: Loki's own, the
Sprig subset Loki registers, and Go's ``text/template`` built-ins, with their Go types and
edge cases (``div`` truncates, ``addf`` adds decimals exactly, ``fromJson`` of bad JSON
gives "", ``date`` of a non-time prints now, ``toDate`` of a bad date is year 1).
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import orjson

from labkit.standins.loki import gotmpl_fmt as fmt
from labkit.standins.loki.golayout import GoTime, format_time, parse_time, zone_named
from labkit.standins.loki.gotmpl_exec import Func, TemplateExecError
from labkit.standins.loki.regex import RegexError, compile_regex, count_matches, replace_all
from labkit.standins.loki.units import go_duration_seconds, parse_bytes

MAX_REPEAT = 1 << 20  # characters repeat/indent may build
_NS = 10**9


def _to_int(v: Any) -> int:
    """spf13/cast's ToInt64 (what Sprig uses): unreadable values are 0."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) else 0
    if isinstance(v, str):
        s = v.strip()
        if "." in s and s.rstrip("0").endswith("."):
            s = s.rstrip("0")[:-1]
        try:
            return int(s, 0)
        except ValueError:
            return 0
    return 0


def _to_float(v: Any) -> float:
    if isinstance(v, (bool, int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return 0.0
    return 0.0


def _dec(v: Any) -> Decimal:
    return Decimal(repr(_to_float(v)))


def _decimal_fold(op: Callable[[Decimal, Decimal], Decimal]) -> Callable[..., float]:
    def fn(first: Any, *rest: Any) -> float:
        with localcontext() as ctx:
            ctx.prec = 40
            acc = _dec(first)
            try:
                for r in rest:
                    acc = op(acc, _dec(r))
            except (DivisionByZero, InvalidOperation):
                raise TemplateExecError("decimal division by 0") from None
            return float(acc)

    return fn


def _go_div(a: Any, b: Any) -> int:
    x, y = _to_int(a), _to_int(b)
    if y == 0:
        raise TemplateExecError("runtime error: integer divide by zero")
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y >= 0) else -q


def _go_mod(a: Any, b: Any) -> int:
    x, y = _to_int(a), _to_int(b)
    if y == 0:
        raise TemplateExecError("runtime error: integer divide by zero")
    return x - _go_div(x, y) * y


def _round(a: Any, p: int, *r_opt: Any) -> float:
    round_on = _to_float(r_opt[0]) if r_opt else 0.5
    val, pow_ = _to_float(a), math.pow(10, p)
    digit = pow_ * val
    frac = math.modf(digit)[0]
    return (math.ceil(digit) if frac >= round_on else math.floor(digit)) / pow_


def _runes_trunc(c: int, s: str) -> str:
    if c < 0 and len(s) + c > 0:
        return s[len(s) + c:]
    if c >= 0 and len(s) > c:
        return s[:c]
    return s


def _substr(start: int, end: int, s: str) -> str:
    n = len(s)
    end, start = min(end, n), min(start, n)
    if start < 0:
        return "" if end < 0 else s[:end]
    if end < 0:
        return s[start:]
    return "" if start > end else s[start:end]


def _align(count: int, src: str, left: bool) -> str:
    if count < 0 or count == len(src):
        return src
    if count > len(src):
        pad = " " * min(count - len(src), MAX_REPEAT)
        return src + pad if left else pad + src
    return src[:count] if left else src[len(src) - count:]


def _repeat(count: int, s: str) -> str:
    if count < 0:
        raise TemplateExecError("strings: negative Repeat count")
    if count * len(s) > MAX_REPEAT:
        raise TemplateExecError(f"repeat would build more than {MAX_REPEAT} characters")
    return s * count


def _indent(spaces: int, s: str) -> str:
    pad = _repeat(max(spaces, 0), " ")
    return pad + s.replace("\n", "\n" + pad)


def _title(s: str) -> str:
    """Go's strings.Title: upper-case letters that start a word."""
    out, prev_sep = [], True
    for ch in s:
        out.append(ch.upper() if prev_sep and ch.isalpha() else ch)
        prev_sep = not (ch.isalnum() or ch == "_") if ch.isascii() else ch.isspace()
    return "".join(out)


def _empty(v: Any) -> bool:
    return v is None or v in ("", 0, False) or (isinstance(v, (dict, list)) and not v)


def _default(d: Any, *given: Any) -> Any:
    return d if not given or _empty(given[0]) else given[0]


def _from_json(s: str) -> Any:
    try:
        return orjson.loads(s, ) if s else ""
    except orjson.JSONDecodeError:
        return ""


def _json_numbers(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v)  # encoding/json decodes numbers into float64
    if isinstance(v, dict):
        return {k: _json_numbers(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_numbers(x) for x in v]
    return v


def _date(layout: str, d: Any) -> str:
    if isinstance(d, GoTime):
        t = d
    elif isinstance(d, int) and not isinstance(d, bool):
        t = GoTime(d * _NS)
    else:
        t = GoTime(time.time_ns())
    return format_time(t, layout)


def _to_date_in_zone(layout: str, zone: str, s: str) -> GoTime:
    loc = zone_named(zone) or zone_named("UTC")
    assert loc is not None
    try:
        return parse_time(layout, s, loc)
    except (ValueError, OverflowError):
        return GoTime(-62135596800 * _NS)  # Go's zero time


def _unix_to_time(epoch: str) -> GoTime:
    try:
        i = int(epoch)
    except ValueError:
        raise TemplateExecError(f"unable to parse time '{epoch}': invalid syntax") from None
    scale = {5: 86400 * _NS, 10: _NS, 13: 10**6, 16: 10**3, 19: 1}.get(len(epoch))
    if scale is None:
        raise TemplateExecError(f"unable to parse time '{epoch}': unsupported length")
    return GoTime(i * scale)


def _regex(pattern: str) -> Any:
    try:
        return compile_regex(pattern)
    except RegexError as exc:
        raise TemplateExecError(str(exc)) from None


def _b64dec(s: str) -> str:
    try:
        return base64.b64decode(s, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as exc:
        return f"illegal base64 data: {exc}"


def _bytes(s: str) -> float:
    v = parse_bytes(s)
    if v is None:
        raise TemplateExecError(f"strconv.ParseFloat: parsing {s!r}: invalid syntax")
    return v


def _duration(s: str) -> float:
    v = go_duration_seconds(s)
    if v is None:
        raise TemplateExecError(f'time: invalid duration "{s}"')
    return v


def _max_int(a: Any, *rest: Any) -> int:
    return max([_to_int(a), *(_to_int(x) for x in rest)])


def _min_int(a: Any, *rest: Any) -> int:
    return min([_to_int(a), *(_to_int(x) for x in rest)])


FUNCTIONS: dict[str, Func] = {
    # Loki's own
    "ToLower": Func(str.lower, "s"), "ToUpper": Func(str.upper, "s"),
    "Replace": Func(lambda s, old, new, n: s.replace(old, new, n if n >= 0 else -1), "sssi"),
    "Trim": Func(lambda s, cut: s.strip(cut), "ss"),
    "TrimLeft": Func(lambda s, cut: s.lstrip(cut), "ss"),
    "TrimRight": Func(lambda s, cut: s.rstrip(cut), "ss"),
    "TrimPrefix": Func(lambda s, p: s.removeprefix(p), "ss"),
    "TrimSuffix": Func(lambda s, p: s.removesuffix(p), "ss"),
    "TrimSpace": Func(str.strip, "s"),
    "regexReplaceAll": Func(lambda rx, s, r: replace_all(_regex(rx), s, r), "sss"),
    "regexReplaceAllLiteral": Func(
        lambda rx, s, r: replace_all(_regex(rx), s, r, literal=True), "sss"),
    "count": Func(lambda rx, s: count_matches(_regex(rx), s), "ss"),
    "urldecode": Func(unquote_plus, "s"), "urlencode": Func(quote_plus, "s"),
    "bytes": Func(_bytes, "s"), "duration": Func(_duration, "s"),
    "duration_seconds": Func(_duration, "s"),
    "unixEpochMillis": Func(lambda t: str(t.ns // 10**6), "t"),
    "unixEpochNanos": Func(lambda t: str(t.ns), "t"),
    "toDateInZone": Func(_to_date_in_zone, "sss"), "unixToTime": Func(_unix_to_time, "s"),
    "alignLeft": Func(lambda c, s: _align(c, s, True), "is"),
    "alignRight": Func(lambda c, s: _align(c, s, False), "is"),
    # Sprig's, as Loki registers them
    "b64enc": Func(lambda s: base64.b64encode(s.encode()).decode(), "s"),
    "b64dec": Func(_b64dec, "s"),
    "lower": Func(str.lower, "s"), "upper": Func(str.upper, "s"), "title": Func(_title, "s"),
    "trunc": Func(_runes_trunc, "is"), "substr": Func(_substr, "iis"),
    "contains": Func(lambda sub, s: sub in s, "ss"),
    "hasPrefix": Func(lambda p, s: s.startswith(p), "ss"),
    "hasSuffix": Func(lambda p, s: s.endswith(p), "ss"),
    "indent": Func(_indent, "is"), "nindent": Func(lambda n, s: "\n" + _indent(n, s), "is"),
    "replace": Func(lambda old, new, s: s.replace(old, new), "sss"),
    "repeat": Func(_repeat, "is"), "trim": Func(str.strip, "s"),
    "trimAll": Func(lambda cut, s: s.strip(cut), "ss"),
    "trimSuffix": Func(lambda p, s: s.removesuffix(p), "ss"),
    "trimPrefix": Func(lambda p, s: s.removeprefix(p), "ss"),
    "int": Func(_to_int, "a"), "float64": Func(_to_float, "a"),
    "add": Func(lambda *v: sum(_to_int(x) for x in v), "*"),
    "sub": Func(lambda a, b: _to_int(a) - _to_int(b), "aa"),
    "mul": Func(lambda a, *v: math.prod([_to_int(a), *(_to_int(x) for x in v)]), "a*"),
    "div": Func(_go_div, "aa"), "mod": Func(_go_mod, "aa"),
    "addf": Func(_decimal_fold(lambda a, b: a + b), "a*"),
    "subf": Func(_decimal_fold(lambda a, b: a - b), "a*"),
    "mulf": Func(_decimal_fold(lambda a, b: a * b), "a*"),
    "divf": Func(_decimal_fold(lambda a, b: round(a / b, 16)), "a*"),
    "max": Func(_max_int, "a*"), "min": Func(_min_int, "a*"),
    "maxf": Func(lambda a, *v: max([_to_float(a), *map(_to_float, v)]), "a*"),
    "minf": Func(lambda a, *v: min([_to_float(a), *map(_to_float, v)]), "a*"),
    "ceil": Func(lambda a: float(math.ceil(_to_float(a))), "a"),
    "floor": Func(lambda a: float(math.floor(_to_float(a))), "a"),
    "round": Func(_round, "ai*"),
    "fromJson": Func(lambda s: _json_numbers(_from_json(s)), "s"),
    "date": Func(_date, "sa"),
    "toDate": Func(lambda layout, s: _to_date_in_zone(layout, "UTC", s), "ss"),
    "now": Func(lambda: GoTime(time.time_ns()), ""),
    "unixEpoch": Func(lambda t: str(t.unix()), "t"),
    "default": Func(_default, "a*"),
    # the line and its time: the executor answers these per line
    "__line__": Func(lambda: "", ""), "__timestamp__": Func(lambda: GoTime(0), ""),
    # Go's built-ins
    "and": Func(lambda *v: v, "*"), "or": Func(lambda *v: v, "*"),
    "not": Func(lambda v: not fmt.truth(v), "a"), "len": Func(fmt.go_len, "a"),
    "index": Func(fmt.go_index, "a*"), "slice": Func(fmt.go_slice, "a*"),
    "print": Func(fmt.sprint, "*"), "println": Func(fmt.sprintln, "*"),
    "printf": Func(fmt.sprintf, "s*"),
    "eq": Func(fmt.go_eq, "aa*"), "ne": Func(lambda a, b: not fmt.go_eq(a, b), "aa"),
    "lt": Func(lambda a, b: fmt.go_cmp(a, b) < 0, "aa"),
    "le": Func(lambda a, b: fmt.go_cmp(a, b) <= 0, "aa"),
    "gt": Func(lambda a, b: fmt.go_cmp(a, b) > 0, "aa"),
    "ge": Func(lambda a, b: fmt.go_cmp(a, b) >= 0, "aa"),
    "html": Func(lambda *v: fmt.html_escape(fmt.sprint(*v)), "*"),
    "js": Func(lambda *v: fmt.js_escape(fmt.sprint(*v)), "*"),
    "urlquery": Func(lambda *v: quote_plus(fmt.sprint(*v)), "*"),
}
