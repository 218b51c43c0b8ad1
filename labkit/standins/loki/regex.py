"""Regular expressions as Loki runs them: RE2 (``google-re2``), in linear time.

Python's ``re`` backtracks, so ``(a+)+$`` on a long line could hold the interpreter for
minutes and stall every request; RE2 never backtracks. Loki compiles with Go's ``regexp``
(RE2 syntax too), so what RE2 refuses (look-arounds, back-references) Loki refuses as
well; ``compile_regex`` words the refusal as Go does
(``error parsing regexp: invalid or unsupported Perl syntax: `(?=```).

``replace_all`` and ``count_matches`` follow Go's ``ReplaceAllString`` and
``FindAllStringIndex`` (an empty match right after a match is skipped), and ``expand``
Go's ``$1``/``${name}`` templates, which ``label_replace`` and ``regexReplaceAll`` use.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

Regex = Any  # a compiled re2 pattern (the package ships no type hints)

# RE2's C++ error texts -> Go's regexp/syntax ones (Loki shows Go's).
_GO_ERRORS = {
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid repetition size": "invalid repeat count",
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "no argument for repetition operator": "missing argument to repetition operator",
    "bad repetition operator": "invalid nested repetition operator",
    "trailing \\": "trailing backslash at end of expression",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
}
_NAME = re.compile(r"\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+)|(\$))")
_MAX_MEM = 32 << 20  # RE2's program memory per pattern: refuses absurd repetitions


class RegexError(ValueError):
    """The pattern is not valid RE2 (Go regexp) syntax; the message reads like Go's."""


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Regex:
    """Compile ``pattern`` with RE2; raise RegexError worded like Go's regexp package."""
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = _MAX_MEM
    try:
        return re2.compile(pattern, opts)
    except re2.error as exc:
        raise RegexError(_go_message(exc, pattern)) from None
    except (TypeError, ValueError, UnicodeError) as exc:
        raise RegexError(f"error parsing regexp: {exc}: `{pattern}`") from None


def _go_message(exc: Exception, pattern: str) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, _, arg = text.partition(": ")
    code = _GO_ERRORS.get(code, code)
    return f"error parsing regexp: {code}: `{arg or pattern}`"


def expand(template: str, m: Any, names: dict[str, int]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; an unknown
    group expands to nothing, as in Go."""

    def repl(x: re.Match[str]) -> str:
        if x.group(3):
            return "$"
        name = x.group(1) if x.group(1) is not None else x.group(2)
        if name.isdigit():
            idx = int(name)
        elif name in names:
            idx = names[name]
        else:
            return ""
        if idx > m.re.groups:
            return ""
        return m.group(idx) or ""

    return _NAME.sub(repl, template)


def _matches(rx: Regex, s: str) -> list[Any]:
    """Successive matches as Go's ``allMatches`` yields them (empty ones after a match
    are dropped, and the search always moves on)."""
    out: list[Any] = []
    pos, prev_end, n = 0, -1, len(s)
    while pos <= n:
        m = rx.search(s, pos)
        if m is None:
            break
        a, b = m.span()
        if not (b == a and a == prev_end):
            out.append(m)
        prev_end = b
        pos = b if b > pos else pos + 1
    return out


def replace_all(rx: Regex, s: str, repl: str, *, literal: bool = False) -> str:
    """Go's ``ReplaceAllString`` (``literal``: ``ReplaceAllLiteralString``)."""
    names = dict(rx.groupindex)
    out, last = [], 0
    for m in _matches(rx, s):
        a, b = m.span()
        out.append(s[last:a])
        out.append(repl if literal else expand(repl, m, names))
        last = b
    out.append(s[last:])
    return "".join(out)


def count_matches(rx: Regex, s: str) -> int:
    """How many matches Go's ``FindAllStringIndex(s, -1)`` finds."""
    return len(_matches(rx, s))
