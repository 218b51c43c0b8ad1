"""What LogQL's grammar allows but Loki still refuses, and the values the parser builds:
Go string literals, RE2 regexes, matchers, durations, templates, ip() and label filters.

A refusal raises ``SemanticError`` carrying the offending token, so the message can say
where (``parse error at line 1, col 12: ...``).
"""

from __future__ import annotations

import re
from typing import Any

from lark import Token

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.ipfilter import IPPatternError, label_test, line_test
from labkit.standins.loki.regex import Regex, RegexError, compile_regex
from labkit.standins.loki.templates import TemplateError, parse_template
from labkit.standins.loki.units import go_duration_seconds, parse_bytes, range_duration_ns

UNWRAP_FNS = {
    "sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "stddev_over_time",
    "stdvar_over_time", "quantile_over_time", "first_over_time", "last_over_time", "rate",
}
LOG_ONLY_FNS = {"count_over_time", "bytes_over_time", "bytes_rate", "absent_over_time"}
_ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)', re.S)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                   "v": "\v", "\\": "\\", '"': '"', "'": "'"}


class SemanticError(Exception):
    """A grammatically valid construct that LogQL rejects; carries the offending token."""

    def __init__(self, message: str, token: Token | None = None) -> None:
        super().__init__(message)
        self.token = token


def unquote(token: str) -> str:
    """A Go string literal's value ("..." with escapes, or `raw`)."""
    if token.startswith("`"):
        return token[1:-1]

    def repl(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in "xuU":
            return chr(int(e[1:], 16))
        if e[0].isdigit():
            return chr(int(e, 8))
        if e in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[e]
        raise SemanticError(f"invalid syntax: unknown escape sequence \\{e}")

    return _ESCAPE.sub(repl, token[1:-1])


def regex_or_refuse(pattern: str, token: Token | None = None) -> Regex:
    try:
        return compile_regex(pattern)
    except RegexError as exc:
        raise SemanticError(str(exc), token) from None


SET_OPS = ("and", "or", "unless")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def make_matcher(name: Token, op: Token, value: Token) -> syn.Matcher:
    v = unquote(value)
    rx = regex_or_refuse(v, value) if op in ("=~", "!~") else None
    return syn.Matcher(str(name), str(op), v, rx)


def duration_ns(token: Token) -> int:
    ns = range_duration_ns(token)
    if ns is None or ns <= 0:
        raise SemanticError(f"invalid duration {token}", token)
    return ns


def template_or_refuse(token: Token, name: str, label: str = "") -> Any:
    try:
        return parse_template(unquote(token), name, label)
    except TemplateError as exc:
        raise SemanticError(str(exc), token) from None


def ip_line_test(op: str, pattern: str, token: Token) -> Any:
    if op not in ("|=", "!="):
        raise SemanticError("ip: invalid operation", token)
    try:
        return line_test(pattern)
    except IPPatternError as exc:
        raise SemanticError(str(exc), token) from None


def label_compare(name: Token, op: Token, value: Any) -> syn.LabelCompare:
    n = str(name)
    if isinstance(value, tuple):  # ip("...")
        if op not in ("=", "!="):
            raise SemanticError(f"syntax error: unexpected ip, {op} cannot compare an ip()", op)
        try:
            test = label_test(value[1])
        except IPPatternError as exc:
            raise SemanticError(str(exc), value[2]) from None
        return syn.LabelCompare(n, str(op), "ip", value[1], None, test)
    if isinstance(value, Token) and value.type == "STRING":
        if op in (">", ">=", "<", "<="):
            raise SemanticError(
                f"syntax error: unexpected STRING after {op}, expecting NUMBER, DURATION or BYTES",
                value,
            )
        o = "=" if op == "==" else str(op)
        m = make_matcher(name, Token("MATCH_OP", o), value)
        return syn.LabelCompare(n, o, "string", m.value, m)
    if op in ("=~", "!~"):
        raise SemanticError(
            f"syntax error: unexpected {getattr(value, 'type', 'NUMBER')}, expecting STRING", op
        )
    o = "==" if op == "=" else str(op)
    if isinstance(value, float):
        return syn.LabelCompare(n, o, "number", value)
    if value.type == "DURATION":
        secs = go_duration_seconds(value)
        if secs is None:
            raise SemanticError(
                f'time: unknown unit in duration "{value}" '
                "(label filters use Go durations: ns us ms s m h)",
                value,
            )
        return syn.LabelCompare(n, o, "duration", secs)
    size = parse_bytes(value)
    if size is None:
        raise SemanticError(f"invalid bytes value {value}", value)
    return syn.LabelCompare(n, o, "bytes", size)


def check_stages(stages: tuple[Any, ...]) -> tuple[Any, ...]:
    seen_unwrap = False
    for s in stages:
        if seen_unwrap and not isinstance(s, syn.LabelFilter):
            raise SemanticError("only label filters can follow unwrap")
        if isinstance(s, syn.Unwrap):
            if seen_unwrap:
                raise SemanticError("unwrap can be used only once")
            seen_unwrap = True
    return stages
