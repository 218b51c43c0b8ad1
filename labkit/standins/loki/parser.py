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
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from labkit.standins.loki import syntax as S
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


class _Semantic(Exception):
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
        raise _Semantic(f"invalid syntax: unknown escape sequence \\{e}")

    return _ESCAPE.sub(repl, token[1:-1])


def _regex(pattern: str, token: Token | None = None) -> re.Pattern[str]:
    # RE2 spells named groups (?P<n>) or (?<n>); Python's re only knows the first.
    try:
        return re.compile(re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern))
    except re.error as exc:
        raise _Semantic(f"error parsing regexp: {exc}: `{pattern}`", token) from None


def _matcher(name: Token, op: Token, value: Token) -> S.Matcher:
    v = unquote(value)
    rx = _regex(v, value) if op in ("=~", "!~") else None
    return S.Matcher(str(name), str(op), v, rx)


@v_args(inline=True)
class _ToTree(Transformer[Any, Any]):
    def start(self, q: Any) -> Any:
        return q

    # -- log queries
    def selector(self, *matchers: S.Matcher | None) -> tuple[S.Matcher, ...]:
        ms = tuple(m for m in matchers if m is not None)
        if not any(not m.matches("") for m in ms if m.op in ("=", "=~")):
            raise _Semantic(
                "queries require at least one regexp or equality matcher that does not have an "
                'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
                'but app=~".+" will'
            )
        return ms

    matcher = staticmethod(_matcher)

    def log_query(self, selector: tuple[S.Matcher, ...], *stages: Any) -> S.LogQuery:
        return S.LogQuery(selector, _check_stages(stages))

    def stage(self, s: Any) -> Any:
        return s

    def line_filter(self, op: Token, *values: Token) -> S.LineFilter:
        vals = tuple(unquote(v) for v in values if v.type == "STRING")
        rxs = tuple(_regex(v, op) for v in vals) if op in ("|~", "!~") else ()
        return S.LineFilter(str(op), vals, rxs)

    def json_param(self, name: Token, path: Token | None) -> tuple[str, str]:
        return str(name), unquote(path) if path is not None else str(name)

    def json_stage(self, _pipe: Token, _kw: Token, *params: Any) -> S.JsonParser:
        return S.JsonParser(tuple(p for p in params if p is not None))

    def logfmt_stage(self, _pipe: Token, _kw: Token) -> S.LogfmtParser:
        return S.LogfmtParser()

    def regexp_stage(self, _pipe: Token, kw: Token, pattern: Token) -> S.RegexpParser:
        rx = _regex(unquote(pattern), pattern)
        if not rx.groupindex:
            raise _Semantic("at least one named capture must be supported", pattern)
        return S.RegexpParser(rx)

    def pattern_stage(self, _pipe: Token, kw: Token, pattern: Token) -> S.PatternParser:
        return _compile_pattern(unquote(pattern), pattern)

    def line_format_stage(self, _pipe: Token, kw: Token, tmpl: Token) -> S.LineFormat:
        return S.LineFormat(_template(tmpl, "line_format"))

    def label_fmt(self, dst: Token, src: Token) -> tuple[str, str, object]:
        if src.type == "IDENTIFIER":
            return str(dst), "rename", str(src)
        return str(dst), "template", _template(src, "label_format")

    def label_format_stage(self, _pipe: Token, _kw: Token, *items: Any) -> S.LabelFormat:
        return S.LabelFormat(tuple(items))

    def drop_item(self, name: Token, op: Token | None, value: Token | None) -> tuple[str, S.Matcher | None]:
        return str(name), (_matcher(name, op, value) if op is not None and value is not None else None)

    def drop_stage(self, _pipe: Token, _kw: Token, *items: Any) -> S.DropKeep:
        return S.DropKeep(False, tuple(items))

    def keep_stage(self, _pipe: Token, _kw: Token, *items: Any) -> S.DropKeep:
        return S.DropKeep(True, tuple(items))

    def decolorize_stage(self, _pipe: Token, _kw: Token) -> S.Decolorize:
        return S.Decolorize()

    def unwrap_target(self, a: Token, b: Token | None = None) -> S.Unwrap:
        if b is None:
            return S.Unwrap(str(a), "")
        if a not in ("duration", "duration_seconds", "bytes"):
            raise _Semantic(f"syntax error: unexpected {a}, expecting duration, duration_seconds or bytes", a)
        return S.Unwrap(str(b), str(a))

    def unwrap_stage(self, _pipe: Token, _kw: Token, target: S.Unwrap) -> S.Unwrap:
        return target

    def label_filter_stage(self, _pipe: Token, expr: Any) -> S.LabelFilter:
        return S.LabelFilter(expr)

    def lf_or(self, left: Any, _op: Token, right: Any) -> S.LabelOr:
        return S.LabelOr(left, right)

    def lf_and(self, left: Any, *rest: Any) -> S.LabelAnd:
        return S.LabelAnd(left, rest[-1])

    def lf_cmp(self, name: Token, op: Token, value: Any) -> S.LabelCompare:
        return _label_compare(name, op, value)

    def signed_number(self, n: Token) -> float:
        return float(n)

    def neg_number(self, n: Token) -> float:
        return -float(n)

    # -- metric queries
    def number(self, n: Token) -> S.NumberLit:
        return S.NumberLit(float(n))

    def vector_literal(self, _kw: Token, n: Token) -> S.VectorLit:
        return S.VectorLit(float(n))

    def negate(self, e: Any) -> Any:
        if isinstance(e, S.NumberLit):
            return S.NumberLit(-e.value)
        return S.BinOp("*", S.NumberLit(-1.0), e)

    def bin_mod(self, b: Token | None, matching: S.Matching | None) -> tuple[bool, S.Matching | None]:
        return b is not None, matching

    def matching(self, kw: Token, *labels: Token | None) -> S.Matching:
        return S.Matching(kw == "on", tuple(str(x) for x in labels if x is not None))

    def binary(self, lhs: Any, op: Token, mod: tuple[bool, S.Matching | None], rhs: Any) -> S.BinOp:
        return_bool, matching = mod
        if return_bool and op not in ("==", "!=", ">", ">=", "<", "<="):
            raise _Semantic("bool modifier can only be used on comparison operators", op)
        if isinstance(lhs, S.NumberLit) and isinstance(rhs, S.NumberLit) and op in ("==", "!=", ">", ">=", "<", "<=") and not return_bool:
            raise _Semantic("comparisons between scalars must use BOOL modifier", op)
        return S.BinOp(str(op), lhs, rhs, return_bool, matching)

    def range(self, d: Token) -> int:
        return _duration(d)

    def offset(self, _kw: Token, d: Token) -> int:
        return _duration(d)

    def log_range(self, selector: tuple[S.Matcher, ...], *rest: Any) -> tuple[S.LogQuery, int, int]:
        range_ns = next(x for x in rest if isinstance(x, int))
        ints = [x for x in rest if isinstance(x, int) or x is None]
        offset = ints[1] if len(ints) > 1 and ints[1] is not None else 0
        stages = tuple(x for x in rest if x is not None and not isinstance(x, int))
        return S.LogQuery(selector, _check_stages(stages)), range_ns, offset

    def grouping(self, kw: Token, *labels: Token | None) -> S.Grouping:
        return S.Grouping(kw == "without", tuple(str(x) for x in labels if x is not None))

    def range_agg(self, fn: Token, *args: Any) -> S.RangeAgg:
        param = args[0] if fn == "quantile_over_time" else None
        (query, range_ns, offset), grouping = args[-2], args[-1]
        agg = S.RangeAgg(str(fn), query, range_ns, offset, param, grouping)
        if agg.unwrap is None and fn in _UNWRAP_FNS - {"rate"}:
            raise _Semantic(f"invalid aggregation {fn} without unwrap", fn)
        if agg.unwrap is not None and fn in _LOG_ONLY_FNS:
            raise _Semantic(f"invalid aggregation {fn} with unwrap", fn)
        if grouping is not None and agg.unwrap is None:
            raise _Semantic(f"grouping not allowed for {fn} aggregation", fn)
        return agg

    def vector_agg(self, op: Token, *args: Any) -> S.VectorAgg:
        grouping = next((a for a in args if isinstance(a, S.Grouping)), None)
        rest = [a for a in args if a is not None and not isinstance(a, S.Grouping)]
        if op in ("topk", "bottomk"):
            k = float(rest[0])
            if k != int(k) or k < 1:
                raise _Semantic(f"invalid parameter for {op}: k must be a positive integer, got {rest[0]}", op)
            return S.VectorAgg(str(op), rest[1], grouping, k)
        return S.VectorAgg(str(op), rest[0], grouping)


def _duration(token: Token) -> int:
    ns = range_duration_ns(token)
    if ns is None or ns <= 0:
        raise _Semantic(f"invalid duration {token}", token)
    return ns


def _template(token: Token, name: str) -> Any:
    try:
        return parse_template(unquote(token), name)
    except TemplateError as exc:
        raise _Semantic(str(exc), token) from None


def _label_compare(name: Token, op: Token, value: Any) -> S.LabelCompare:
    n = str(name)
    if isinstance(value, Token) and value.type == "STRING":
        if op in (">", ">=", "<", "<="):
            raise _Semantic(f"syntax error: unexpected STRING after {op}, expecting NUMBER, DURATION or BYTES", value)
        o = "=" if op == "==" else str(op)
        m = _matcher(name, Token("MATCH_OP", o), value)
        return S.LabelCompare(n, o, "string", m.value, m)
    if op in ("=~", "!~"):
        raise _Semantic(f"syntax error: unexpected {getattr(value, 'type', 'NUMBER')}, expecting STRING", op)
    o = "==" if op == "=" else str(op)
    if isinstance(value, float):
        return S.LabelCompare(n, o, "number", value)
    if value.type == "DURATION":
        secs = go_duration_seconds(value)
        if secs is None:
            raise _Semantic(f'time: unknown unit in duration "{value}" (label filters use Go durations: ns us ms s m h)', value)
        return S.LabelCompare(n, o, "duration", secs)
    size = parse_bytes(value)
    if size is None:
        raise _Semantic(f"invalid bytes value {value}", value)
    return S.LabelCompare(n, o, "bytes", size)


def _compile_pattern(text: str, token: Token) -> S.PatternParser:
    pieces = re.split(r"<([A-Za-z_][A-Za-z0-9_]*)>", text)
    names: list[str] = []
    regex = ["^"]
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            regex.append(re.escape(piece))
            continue
        if i > 1 and pieces[i - 1] == "":
            raise _Semantic("found consecutive capture: pattern captures need a literal between them", token)
        last = i == len(pieces) - 2 and pieces[-1] == ""
        if piece == "_":
            regex.append("(?:.*)" if last else "(?:.*?)")
            continue
        if piece in names:
            raise _Semantic(f"duplicate capture name ({piece})", token)
        names.append(piece)
        regex.append(f"(?P<{piece}>.*)" if last else f"(?P<{piece}>.*?)")
    if not names:
        raise _Semantic("at least one capture is required", token)
    return S.PatternParser(re.compile("".join(regex), re.S), tuple(names))


def _check_stages(stages: tuple[Any, ...]) -> tuple[Any, ...]:
    seen_unwrap = False
    for s in stages:
        if seen_unwrap and not isinstance(s, S.LabelFilter):
            raise _Semantic("only label filters can follow unwrap")
        if isinstance(s, S.Unwrap):
            if seen_unwrap:
                raise _Semantic("unwrap can be used only once")
            seen_unwrap = True
    return stages


@functools.cache
def _lark() -> Lark:
    grammar = files("labkit.standins.loki").joinpath("logql.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=False, maybe_placeholders=True)


_TOKEN_NAMES = {"$END": "end of input", "LBRACE": "{", "RBRACE": "}", "LPAR": "(", "RPAR": ")",
                "LSQB": "[", "RSQB": "]", "COMMA": ",", "EQUAL": "="}


def _describe(token_type: str) -> str:
    return _TOKEN_NAMES.get(token_type, token_type)


def parse(query: str) -> S.Query:
    """Parse ``query``; raise LogQLParseError with Loki-style text when it is refused."""
    if not query.strip():
        raise LogQLParseError("parse error : syntax error: unexpected end of input, the query is empty")
    try:
        tree = _lark().parse(query)
        return _ToTree().transform(tree)  # type: ignore[no-any-return]
    except VisitError as exc:
        err = exc.orig_exc
        if isinstance(err, _Semantic):
            tok = err.token
            where = f"at line {tok.line}, col {tok.column}" if tok is not None and tok.line else ""
            raise LogQLParseError(f"parse error {where}: {err}".replace("  ", " ")) from None
        raise LogQLParseError(f"parse error : {err}") from None
    except _Semantic as err:
        raise LogQLParseError(f"parse error : {err}") from None
    except UnexpectedInput as exc:
        raise LogQLParseError(_syntax_message(exc, query)) from None


def _syntax_message(exc: UnexpectedInput, query: str) -> str:
    line, col = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        ch = query[exc.pos_in_stream] if exc.pos_in_stream < len(query) else ""
        if ch in "\"`":
            return f"parse error at line {line}, col {col}: literal not terminated"
        return f"parse error at line {line}, col {col}: syntax error: unexpected character {ch!r}"
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        expected = sorted(_describe(t) for t in getattr(exc, "expected", []) if t != "$END")
        hint = f", expecting {' or '.join(expected[:4])}" if expected and len(expected) <= 4 else ""
        last = query.rstrip()
        pos_line = last.count("\n") + 1
        pos_col = len(last) - (last.rfind("\n") + 1) + 1
        return f"parse error at line {pos_line}, col {pos_col}: syntax error: unexpected end of input{hint}"
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = sorted(_describe(t) for t in exc.accepts or exc.expected)
    hint = f", expecting {' or '.join(expected[:4])}" if 0 < len(expected) <= 4 else ""
    shown = tok.type if tok.type in ("IDENTIFIER", "STRING", "NUMBER", "DURATION", "BYTES") else repr(str(tok))
    return f"parse error at line {line}, col {col}: syntax error: unexpected {shown}{hint}"
