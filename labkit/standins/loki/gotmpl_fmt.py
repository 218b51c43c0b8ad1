"""Go's printing and comparison rules for template values (``fmt.Sprint``, ``printf``,
``eq``/``lt``, ``len``, ``index``, ``html``/``js`` escaping)."""

from __future__ import annotations

import re
from typing import Any

from labkit.standins.loki.golayout import GoTime

_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


class GoValueError(ValueError):
    """A built-in got values Go would refuse (incompatible types, index out of range)."""


def go_float(f: float) -> str:
    """Go's ``%v`` for a float64 (shortest digits; an exponent below 1e-4 or from 1e6)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    mant, _, e = repr(abs(f)).partition("e")
    int_part, _, frac = mant.partition(".")
    if int_part.strip("0"):
        exp = int(e or 0) + len(int_part.lstrip("0")) - 1
    else:
        exp = int(e or 0) - (len(frac) - len(frac.lstrip("0"))) - 1
    digits = (int_part + frac).strip("0") or "0"
    sign = "-" if f < 0 else ""
    if exp < -4 or exp >= 6:  # strconv "g" with shortest digits, as fmt %v
        tail = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= 0:
        whole, rest = digits[: exp + 1].ljust(exp + 1, "0"), digits[exp + 1:]
        return f"{sign}{whole}{'.' + rest if rest else ''}"
    return f"{sign}0.{'0' * (-exp - 1)}{digits}"


def type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, GoTime):
        return "time.Time"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list):
        return "[]interface {}"
    return "<nil>"


def show(v: Any) -> str:
    """fmt.Sprint of one value."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if v is None:
        return "<no value>"
    if isinstance(v, GoTime):
        return v.go_string()
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_inner(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_inner(x) for x in v) + "]"
    return str(v)


def _inner(v: Any) -> str:
    return "<nil>" if v is None else show(v)


def truth(v: Any) -> bool:
    if isinstance(v, GoTime):
        return True
    return bool(v)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return type_name(v)


def go_eq(a: Any, *others: Any) -> bool:
    """``eq a b c...``: a equals one of the others; basic kinds must agree."""
    for b in others:
        if a is None or b is None:
            if a is b:
                return True
            continue
        if _kind(a) != _kind(b):
            raise GoValueError("incompatible types for comparison")
        if _kind(a) not in ("bool", "int", "float", "string"):
            raise GoValueError("non-comparable type")
        if a == b:
            return True
    return False


def go_cmp(a: Any, b: Any) -> int:
    if _kind(a) != _kind(b):
        raise GoValueError("incompatible types for comparison")
    if _kind(a) not in ("int", "float", "string"):
        raise GoValueError("invalid type for comparison")
    return (a > b) - (a < b)


def go_len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode("utf-8", "surrogatepass"))
    if isinstance(v, (dict, list)):
        return len(v)
    raise GoValueError(f"len of type {type_name(v)}")


def go_index(item: Any, *indices: Any) -> Any:
    for i in indices:
        if isinstance(item, dict):
            item = item.get(i) if isinstance(i, str) else None
        elif isinstance(item, (list, str)) and isinstance(i, int) and not isinstance(i, bool):
            if not 0 <= i < len(item):
                raise GoValueError(f"index out of range: {i}")
            item = item[i] if isinstance(item, list) else ord(item[i])
        else:
            raise GoValueError(f"can't index item of type {type_name(item)}")
    return item


def go_slice(item: Any, *idx: Any) -> Any:
    if not isinstance(item, (str, list)) or any(not isinstance(i, int) for i in idx):
        raise GoValueError(f"can't slice item of type {type_name(item)}")
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else len(item)
    if not 0 <= lo <= hi <= len(item):
        raise GoValueError(f"index out of range: {hi}")
    return item[lo:hi]


def sprint(*values: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for i, v in enumerate(values):
        if i and not isinstance(v, str) and not isinstance(values[i - 1], str):
            out.append(" ")
        out.append(show(v) if v is not None else "<nil>")
    return "".join(out)


def sprintln(*values: Any) -> str:
    return " ".join(show(v) if v is not None else "<nil>" for v in values) + "\n"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace(
        "\t", "\\t").replace("\r", "\\r") + '"'


def _verb(flags: str, width: str | None, prec: str | None, verb: str, v: Any) -> str:
    bad = f"%!{verb}({type_name(v)}={show(v)})"
    if verb in "vs":
        text = show(v) if v is not None else "<nil>"
        if verb == "s" and not isinstance(v, str) and isinstance(v, (bool, int, float)):
            return bad
    elif verb == "q":
        text = _quote(v) if isinstance(v, str) else bad
    elif verb == "d":
        if not isinstance(v, int) or isinstance(v, bool):
            return bad
        text = f"{v:{'+' if '+' in flags else ''}d}"
    elif verb in "feEgG":
        if not isinstance(v, (int, float)) or isinstance(v, bool) or isinstance(v, int):
            return bad
        p = int(prec) if prec is not None else (6 if verb in "feE" else None)
        text = format(v, f"{'+' if '+' in flags else ''}{'.' + str(p) if p is not None else ''}"
                         f"{verb if verb != 'g' or p is not None else 'g'}")
        if verb in "gG" and p is None:
            text = go_float(v)
    elif verb in "xX":
        if isinstance(v, str):
            text = v.encode().hex()
        elif isinstance(v, int) and not isinstance(v, bool):
            text = format(v, "x")
        else:
            return bad
        text = text.upper() if verb == "X" else text
    elif verb == "t":
        if not isinstance(v, bool):
            return bad
        text = "true" if v else "false"
    elif verb == "c":
        if not isinstance(v, int):
            return bad
        text = chr(v)
    else:
        return f"%!{verb}(BADVERB)"
    if prec is not None and verb in "sq" and isinstance(v, str):
        text = text[: int(prec)]
    if width is not None and len(text) < int(width):
        pad = int(width) - len(text)
        if "-" in flags:
            text += " " * pad
        elif "0" in flags and verb in "dfeEgGxX":
            sign = text[0] if text[:1] in "+-" else ""
            text = sign + "0" * pad + text[len(sign):]
        else:
            text = " " * pad + text
    return text


def sprintf(format_: str, *args: Any) -> str:
    """fmt.Sprintf for the common verbs (%v %s %q %d %f %e %g %x %X %t %c %%), with flags,
    width and precision; wrong or missing operands print Go's %!verb(...) markers."""
    out, pos, i = [], 0, 0
    for m in _VERB.finditer(format_):
        out.append(format_[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if i >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_verb(flags, width, prec, verb, args[i]))
        i += 1
    out.append(format_[pos:])
    if i < len(args):
        extra = ", ".join(f"{type_name(a)}={show(a)}" for a in args[i:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def html_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&#34;").replace("\x00", "\ufffd"))


def js_escape(s: str) -> str:
    out = []
    for ch in s:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)
