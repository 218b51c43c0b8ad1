"""Parse LogQL text into the syntax tree of ``syntax.py`` with a lark LALR grammar.

Every refusal raises :class:`LogQLParseError` whose message reads like Loki's
(``parse error at line 1, col 12: syntax error: unexpected IDENTIFIER``), so the
server can answer 400 with it.
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.ipfilter import IPPatternError, label_test, line_test
from labkit.standins.loki.patterns import PatternError, parse_pattern
from labkit.standins.loki.regex import Regex, RegexError, compile_regex
from labkit.standins.loki.templates import TemplateError, parse_template
from labkit.standins.loki.units import go_duration_seconds, parse_bytes, range_duration_ns


class LogQLParseError(ValueError):
    """The query is malformed or uses LogQL outside the supported subset."""


_UNWRAP_FNS = {
    "sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "stddev_over_time",
    "stdvar_over_time", "quantile_over_time", "first_over_time", "last_over_time", "rate",
}
_LOG_ONLY_FNS = {"count_over_time", "bytes_over_time", "bytes_rate", "absent_over_time"}
_ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)', re.S)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                   "v": "\v", "\\": "\\", '"': '"', "'": "'"}


class _SemanticError(Exception):
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
        raise _SemanticError(f"invalid syntax: unknown escape sequence \\{e}")

    return _ESCAPE.sub(repl, token[1:-1])


def _regex(pattern: str, token: Token | None = None) -> Regex:
    try:
        return compile_regex(pattern)
    except RegexError as exc:
        raise _SemanticError(str(exc), token) from None


_SET_OPS = ("and", "or", "unless")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _matcher(name: Token, op: Token, value: Token) -> syn.Matcher:
    v = unquote(value)
    rx = _regex(v, value) if op in ("=~", "!~") else None
    return syn.Matcher(str(name), str(op), v, rx)


@v_args(inline=True)
class _ToTree(Transformer[Any, Any]):
    def start(self, q: Any) -> Any:
        return q

    # -- log queries
    def selector(self, *matchers: syn.Matcher | None) -> tuple[syn.Matcher, ...]:
        ms = tuple(m for m in matchers if m is not None)
        if not any(not m.matches("") for m in ms if m.op in ("=", "=~")):
            raise _SemanticError(
                "queries require at least one regexp or equality matcher that does not have an "
                'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
                'but app=~".+" will'
            )
        return ms

    matcher = staticmethod(_matcher)

    def log_query(self, selector: tuple[syn.Matcher, ...], *stages: Any) -> syn.LogQuery:
        return syn.LogQuery(selector, _check_stages(stages))

    def paren_log_query(self, q: syn.LogQuery) -> syn.LogQuery:
        return q

    def ip_call(self, _kw: Token, pattern: Token) -> tuple[str, str, Token]:
        return "ip", unquote(pattern), pattern

    def stage(self, s: Any) -> Any:
        return s

    def line_filter(self, op: Token, *values: Any) -> syn.LineFilter:
        items = [v for v in values if not (isinstance(v, Token) and v.type == "OR")]
        shown, tests = [], []
        for v in items:
            if isinstance(v, tuple):
                shown.append(f'ip("{v[1]}")')
                tests.append(_ip_line_test(str(op), v[1], v[2]))
                continue
            text = unquote(v)
            shown.append(text)
            if op in ("|~", "!~"):
                tests.append(_regex(text, v).search)
            elif op in ("|>", "!>"):
                try:
                    tests.append(parse_pattern(text, line_filter=True).test)
                except PatternError as exc:
                    raise _SemanticError(str(exc), v) from None
            else:
                tests.append(text.__contains__)
        plain = op in ("|=", "!=") and all(not isinstance(v, tuple) for v in items)
        return syn.LineFilter(str(op), tuple(shown), tuple(tests), plain)

    def json_param(self, name: Token, path: Token | None) -> tuple[str, str]:
        return str(name), unquote(path) if path is not None else str(name)

    def json_stage(self, _pipe: Token, _kw: Token, *params: Any) -> syn.JsonParser:
        return syn.JsonParser(tuple(p for p in params if p is not None))

    def logfmt_stage(self, _pipe: Token, _kw: Token) -> syn.LogfmtParser:
        return syn.LogfmtParser()

    def regexp_stage(self, _pipe: Token, kw: Token, pattern: Token) -> syn.RegexpParser:
        rx = _regex(unquote(pattern), pattern)
        if not rx.groupindex:
            raise _SemanticError("at least one named capture must be supported", pattern)
        return syn.RegexpParser(rx)

    def pattern_stage(self, _pipe: Token, kw: Token, pattern: Token) -> syn.PatternParser:
        try:
            pat = parse_pattern(unquote(pattern))
        except PatternError as exc:
            raise _SemanticError(str(exc), pattern) from None
        return syn.PatternParser(unquote(pattern), pat.extract, pat.names)

    def line_format_stage(self, _pipe: Token, kw: Token, tmpl: Token) -> syn.LineFormat:
        return syn.LineFormat(_template(tmpl, "line_format"))

    def label_fmt(self, dst: Token, src: Token) -> syn.LabelFormatItem:
        if src.type == "IDENTIFIER":
            return str(dst), "rename", str(src)
        return str(dst), "template", _template(src, "label_format", str(dst))

    def label_format_stage(self, _pipe: Token, kw: Token, *items: Any) -> syn.LabelFormat:
        seen: set[str] = set()
        for dst, _, _ in items:
            if dst == "__error__":
                raise _SemanticError("__error__ cannot be formatted", kw)
            if dst in seen:
                raise _SemanticError(
                    f"multiple label name '{dst}' not allowed in a single format operation", kw
                )
            seen.add(dst)
        return syn.LabelFormat(tuple(items))

    def drop_item(
        self, name: Token, op: Token | None, value: Token | None
    ) -> tuple[str, syn.Matcher | None]:
        return str(name), (
            _matcher(name, op, value) if op is not None and value is not None else None
        )

    def drop_stage(self, _pipe: Token, _kw: Token, *items: Any) -> syn.DropKeep:
        return syn.DropKeep(False, tuple(items))

    def keep_stage(self, _pipe: Token, _kw: Token, *items: Any) -> syn.DropKeep:
        return syn.DropKeep(True, tuple(items))

    def decolorize_stage(self, _pipe: Token, _kw: Token) -> syn.Decolorize:
        return syn.Decolorize()

    def unwrap_target(self, a: Token, b: Token | None = None) -> syn.Unwrap:
        if b is None:
            return syn.Unwrap(str(a), "")
        if a not in ("duration", "duration_seconds", "bytes"):
            raise _SemanticError(
                f"syntax error: unexpected {a}, expecting duration, duration_seconds or bytes", a
            )
        return syn.Unwrap(str(b), str(a))

    def unwrap_stage(self, _pipe: Token, _kw: Token, target: syn.Unwrap) -> syn.Unwrap:
        return target

    def label_filter_stage(self, _pipe: Token, expr: Any) -> syn.LabelFilter:
        return syn.LabelFilter(expr)

    def lf_or(self, left: Any, _op: Token, right: Any) -> syn.LabelOr:
        return syn.LabelOr(left, right)

    def lf_and(self, left: Any, *rest: Any) -> syn.LabelAnd:
        return syn.LabelAnd(left, rest[-1])

    def lf_cmp(self, name: Token, op: Token, value: Any) -> syn.LabelCompare:
        return _label_compare(name, op, value)

    def signed_number(self, n: Token) -> float:
        return float(n)

    def neg_number(self, n: Token) -> float:
        return -float(n)

    # -- metric queries
    def number(self, n: Token) -> syn.NumberLit:
        return syn.NumberLit(float(n))

    def vector_literal(self, _kw: Token, n: Token) -> syn.VectorLit:
        return syn.VectorLit(float(n))

    def negate(self, e: Any) -> Any:
        if isinstance(e, syn.NumberLit):
            return syn.NumberLit(-e.value)
        return syn.BinOp("*", syn.NumberLit(-1.0), e)

    def bin_mod(
        self, b: Token | None, matching: syn.Matching | None
    ) -> tuple[bool, syn.Matching | None]:
        return b is not None, matching

    def group_side(self, kw: Token, *labels: Token | None) -> tuple[str, tuple[str, ...]]:
        card = "many-to-one" if kw == "group_left" else "one-to-many"
        return card, tuple(str(x) for x in labels if x is not None)

    def matching(self, kw: Token, *args: Any) -> syn.Matching:
        labels = tuple(str(x) for x in args if isinstance(x, Token))
        side = next((x for x in args if isinstance(x, tuple)), None)
        if side is None:
            return syn.Matching(kw == "on", labels)
        return syn.Matching(kw == "on", labels, side[0], side[1])

    def binary(
        self, lhs: Any, op: Token, mod: tuple[bool, syn.Matching | None], rhs: Any
    ) -> syn.BinOp:
        return_bool, matching = mod
        if return_bool and op not in ("==", "!=", ">", ">=", "<", "<="):
            raise _SemanticError("bool modifier can only be used on comparison operators", op)
        if op in _SET_OPS:
            for side, leg in (("left", lhs), ("right", rhs)):
                if isinstance(leg, syn.NumberLit):
                    raise _SemanticError(
                        f"unexpected literal for {side} leg of logical/set binary operation "
                        f"({op}): {leg.value:f}", op)
            if matching is not None and matching.card != "one-to-one":
                raise _SemanticError(f'no grouping allowed for "{op}" operation', op)
        if (
            isinstance(lhs, syn.NumberLit)
            and isinstance(rhs, syn.NumberLit)
            and op in ("==", "!=", ">", ">=", "<", "<=")
            and not return_bool
        ):
            raise _SemanticError("comparisons between scalars must use BOOL modifier", op)
        return syn.BinOp(str(op), lhs, rhs, return_bool, matching)

    def range(self, d: Token) -> int:
        return _duration(d)

    def offset(self, _kw: Token, d: Token) -> int:
        return _duration(d)

    def log_range(
        self, selector: tuple[syn.Matcher, ...], *rest: Any
    ) -> tuple[syn.LogQuery, int, int]:
        range_ns = next(x for x in rest if isinstance(x, int))
        ints = [x for x in rest if isinstance(x, int) or x is None]
        offset = ints[1] if len(ints) > 1 and ints[1] is not None else 0
        stages = tuple(x for x in rest if x is not None and not isinstance(x, int))
        return syn.LogQuery(selector, _check_stages(stages)), range_ns, offset

    def grouping(self, kw: Token, *labels: Token | None) -> syn.Grouping:
        return syn.Grouping(kw == "without", tuple(str(x) for x in labels if x is not None))

    def range_agg(self, fn: Token, *args: Any) -> syn.RangeAgg:
        param = args[0] if fn == "quantile_over_time" else None
        (query, range_ns, offset), grouping = args[-2], args[-1]
        agg = syn.RangeAgg(str(fn), query, range_ns, offset, param, grouping)
        if agg.unwrap is None and fn in _UNWRAP_FNS - {"rate"}:
            raise _SemanticError(f"invalid aggregation {fn} without unwrap", fn)
        if agg.unwrap is not None and fn in _LOG_ONLY_FNS:
            raise _SemanticError(f"invalid aggregation {fn} with unwrap", fn)
        if grouping is not None and agg.unwrap is None:
            raise _SemanticError(f"grouping not allowed for {fn} aggregation", fn)
        return agg

    def label_replace(
        self, kw: Token, expr: Any, dst: Token, repl: Token, src: Token, regex: Token
    ) -> syn.LabelReplace:
        d, pattern = unquote(dst), unquote(regex)
        try:
            rx = compile_regex(f"^(?:{pattern})$")
        except RegexError as exc:
            raise _SemanticError(f"invalid regex in label_replace: {exc}", regex) from None
        if not _LABEL_NAME.match(d):
            raise _SemanticError(f"invalid destination label name in label_replace: {d}", dst)
        if isinstance(expr, syn.NumberLit):
            raise _SemanticError("label_replace expects a vector, got a scalar", kw)
        return syn.LabelReplace(expr, d, unquote(repl), unquote(src), pattern, rx)

    def vector_agg(self, op: Token, *args: Any) -> syn.VectorAgg:
        grouping = next((a for a in args if isinstance(a, syn.Grouping)), None)
        rest = [a for a in args if a is not None and not isinstance(a, syn.Grouping)]
        if op == "approx_topk" and grouping is not None and grouping.without:
            raise _SemanticError("approx_topk does not support without(); group with by()", op)
        if op == "approx_topk" and float(rest[0]) < 1:
            raise _SemanticError(
                f"invalid parameter (must be greater than 0) approx_topk({rest[0]}", op)
        if op in ("topk", "bottomk", "approx_topk"):
            k = float(rest[0])
            if k != int(k) or k < 1:
                raise _SemanticError(
                    f"invalid parameter for {op}: k must be a positive integer, got {rest[0]}", op
                )
            return syn.VectorAgg(str(op), rest[1], grouping, k)
        return syn.VectorAgg(str(op), rest[0], grouping)


def _duration(token: Token) -> int:
    ns = range_duration_ns(token)
    if ns is None or ns <= 0:
        raise _SemanticError(f"invalid duration {token}", token)
    return ns


def _template(token: Token, name: str, label: str = "") -> Any:
    try:
        return parse_template(unquote(token), name, label)
    except TemplateError as exc:
        raise _SemanticError(str(exc), token) from None


def _ip_line_test(op: str, pattern: str, token: Token) -> Any:
    if op not in ("|=", "!="):
        raise _SemanticError("ip: invalid operation", token)
    try:
        return line_test(pattern)
    except IPPatternError as exc:
        raise _SemanticError(str(exc), token) from None


def _label_compare(name: Token, op: Token, value: Any) -> syn.LabelCompare:
    n = str(name)
    if isinstance(value, tuple):  # ip("...")
        if op not in ("=", "!="):
            raise _SemanticError(f"syntax error: unexpected ip, {op} cannot compare an ip()", op)
        try:
            test = label_test(value[1])
        except IPPatternError as exc:
            raise _SemanticError(str(exc), value[2]) from None
        return syn.LabelCompare(n, str(op), "ip", value[1], None, test)
    if isinstance(value, Token) and value.type == "STRING":
        if op in (">", ">=", "<", "<="):
            raise _SemanticError(
                f"syntax error: unexpected STRING after {op}, expecting NUMBER, DURATION or BYTES",
                value,
            )
        o = "=" if op == "==" else str(op)
        m = _matcher(name, Token("MATCH_OP", o), value)
        return syn.LabelCompare(n, o, "string", m.value, m)
    if op in ("=~", "!~"):
        raise _SemanticError(
            f"syntax error: unexpected {getattr(value, 'type', 'NUMBER')}, expecting STRING", op
        )
    o = "==" if op == "=" else str(op)
    if isinstance(value, float):
        return syn.LabelCompare(n, o, "number", value)
    if value.type == "DURATION":
        secs = go_duration_seconds(value)
        if secs is None:
            raise _SemanticError(
                f'time: unknown unit in duration "{value}" '
                "(label filters use Go durations: ns us ms s m h)",
                value,
            )
        return syn.LabelCompare(n, o, "duration", secs)
    size = parse_bytes(value)
    if size is None:
        raise _SemanticError(f"invalid bytes value {value}", value)
    return syn.LabelCompare(n, o, "bytes", size)


def _check_stages(stages: tuple[Any, ...]) -> tuple[Any, ...]:
    seen_unwrap = False
    for s in stages:
        if seen_unwrap and not isinstance(s, syn.LabelFilter):
            raise _SemanticError("only label filters can follow unwrap")
        if isinstance(s, syn.Unwrap):
            if seen_unwrap:
                raise _SemanticError("unwrap can be used only once")
            seen_unwrap = True
    return stages


@functools.cache
def _lark() -> Lark:
    grammar = files("labkit.standins.loki").joinpath("logql.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=False,
        maybe_placeholders=True,
    )


_TOKEN_NAMES = {
    "$END": "end of input",
    "LBRACE": "{",
    "RBRACE": "}",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "COMMA": ",",
    "EQUAL": "=",
}


def _describe(token_type: str) -> str:
    return _TOKEN_NAMES.get(token_type, token_type)


def parse(query: str) -> syn.Query:
    """Parse ``query``; raise LogQLParseError with Loki-style text when it is refused."""
    if not query.strip():
        raise LogQLParseError(
            "parse error : syntax error: unexpected end of input, the query is empty"
        )
    try:
        tree = _lark().parse(query)
        return _ToTree().transform(tree)  # type: ignore[no-any-return]
    except VisitError as exc:
        err = exc.orig_exc
        if isinstance(err, _SemanticError):
            tok = err.token
            where = f"at line {tok.line}, col {tok.column}" if tok is not None and tok.line else ""
            raise LogQLParseError(f"parse error {where}: {err}".replace("  ", " ")) from None
        raise LogQLParseError(f"parse error : {err}") from None
    except _SemanticError as err:
        raise LogQLParseError(f"parse error : {err}") from None
    except UnexpectedInput as exc:
        raise LogQLParseError(_syntax_message(exc, query) + _unsupported_hint(query)) from None


# Constructs of Loki's LogQL the stand-in refuses (docs/logql.md); a syntax error in a query
# using one says which.
_UNSUPPORTED = re.compile(
    r"\b(unpack|rate_counter|sort_desc|sort|count_values|variants|absent|distinct|"
    r"first_over_time_by|sum_over_time_by)\b"
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')


def _unsupported_hint(query: str) -> str:
    m = _UNSUPPORTED.search(_STRINGS.sub('""', query))
    if m is None:
        return ""
    return f" (the labkit stand-in does not support `{m.group(1)}`; see docs/logql.md)"


def _syntax_message(exc: UnexpectedInput, query: str) -> str:
    line, col = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream  # Optional on UnexpectedInput, always set by UnexpectedCharacters
        ch = query[pos] if pos is not None and pos < len(query) else ""
        if ch in '"`':
            return f"parse error at line {line}, col {col}: literal not terminated"
        return f"parse error at line {line}, col {col}: syntax error: unexpected character {ch!r}"
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        expected = sorted(_describe(t) for t in getattr(exc, "expected", []) if t != "$END")
        hint = f", expecting {' or '.join(expected[:4])}" if expected and len(expected) <= 4 else ""
        last = query.rstrip()
        pos_line = last.count("\n") + 1
        pos_col = len(last) - (last.rfind("\n") + 1) + 1
        return (
            f"parse error at line {pos_line}, col {pos_col}: "
            f"syntax error: unexpected end of input{hint}"
        )
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = sorted(_describe(t) for t in exc.accepts or exc.expected)
    hint = f", expecting {' or '.join(expected[:4])}" if 0 < len(expected) <= 4 else ""
    shown = (
        tok.type
        if tok.type in ("IDENTIFIER", "STRING", "NUMBER", "DURATION", "BYTES")
        else repr(str(tok))
    )
    return f"parse error at line {line}, col {col}: syntax error: unexpected {shown}{hint}"
