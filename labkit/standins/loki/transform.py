"""Turn lark's parse tree of a LogQL query into the syntax tree of ``syntax.py``,
refusing what Loki refuses (``semantics``)."""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer, v_args

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.patterns import PatternError, parse_pattern
from labkit.standins.loki.regex import RegexError, compile_regex
from labkit.standins.loki.semantics import (
    LABEL_NAME,
    LOG_ONLY_FNS,
    SET_OPS,
    UNWRAP_FNS,
    SemanticError,
    check_stages,
    duration_ns,
    ip_line_test,
    label_compare,
    make_matcher,
    regex_or_refuse,
    template_or_refuse,
    unquote,
)


@v_args(inline=True)
class ToTree(Transformer[Any, Any]):
    def start(self, q: Any) -> Any:
        return q

    # -- log queries
    def selector(self, *matchers: syn.Matcher | None) -> tuple[syn.Matcher, ...]:
        ms = tuple(m for m in matchers if m is not None)
        if not any(not m.matches("") for m in ms if m.op in ("=", "=~")):
            raise SemanticError(
                "queries require at least one regexp or equality matcher that does not have an "
                'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
                'but app=~".+" will'
            )
        return ms

    matcher = staticmethod(make_matcher)

    def log_query(self, selector: tuple[syn.Matcher, ...], *stages: Any) -> syn.LogQuery:
        return syn.LogQuery(selector, check_stages(stages))

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
                tests.append(ip_line_test(str(op), v[1], v[2]))
                continue
            text = unquote(v)
            shown.append(text)
            if op in ("|~", "!~"):
                tests.append(regex_or_refuse(text, v).search)
            elif op in ("|>", "!>"):
                try:
                    tests.append(parse_pattern(text, line_filter=True).test)
                except PatternError as exc:
                    raise SemanticError(str(exc), v) from None
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
        rx = regex_or_refuse(unquote(pattern), pattern)
        if not rx.groupindex:
            raise SemanticError("at least one named capture must be supported", pattern)
        return syn.RegexpParser(rx)

    def pattern_stage(self, _pipe: Token, kw: Token, pattern: Token) -> syn.PatternParser:
        try:
            pat = parse_pattern(unquote(pattern))
        except PatternError as exc:
            raise SemanticError(str(exc), pattern) from None
        return syn.PatternParser(unquote(pattern), pat.extract, pat.names)

    def line_format_stage(self, _pipe: Token, kw: Token, tmpl: Token) -> syn.LineFormat:
        return syn.LineFormat(template_or_refuse(tmpl, "line_format"))

    def label_fmt(self, dst: Token, src: Token) -> syn.LabelFormatItem:
        if src.type == "IDENTIFIER":
            return str(dst), "rename", str(src)
        return str(dst), "template", template_or_refuse(src, "label_format", str(dst))

    def label_format_stage(self, _pipe: Token, kw: Token, *items: Any) -> syn.LabelFormat:
        seen: set[str] = set()
        for dst, _, _ in items:
            if dst == "__error__":
                raise SemanticError("__error__ cannot be formatted", kw)
            if dst in seen:
                raise SemanticError(
                    f"multiple label name '{dst}' not allowed in a single format operation", kw
                )
            seen.add(dst)
        return syn.LabelFormat(tuple(items))

    def drop_item(
        self, name: Token, op: Token | None, value: Token | None
    ) -> tuple[str, syn.Matcher | None]:
        return str(name), (
            make_matcher(name, op, value) if op is not None and value is not None else None
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
            raise SemanticError(
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
        return label_compare(name, op, value)

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
            raise SemanticError("bool modifier can only be used on comparison operators", op)
        if op in SET_OPS:
            for side, leg in (("left", lhs), ("right", rhs)):
                if isinstance(leg, syn.NumberLit):
                    raise SemanticError(
                        f"unexpected literal for {side} leg of logical/set binary operation "
                        f"({op}): {leg.value:f}", op)
            if matching is not None and matching.card != "one-to-one":
                raise SemanticError(f'no grouping allowed for "{op}" operation', op)
        if (
            isinstance(lhs, syn.NumberLit)
            and isinstance(rhs, syn.NumberLit)
            and op in ("==", "!=", ">", ">=", "<", "<=")
            and not return_bool
        ):
            raise SemanticError("comparisons between scalars must use BOOL modifier", op)
        return syn.BinOp(str(op), lhs, rhs, return_bool, matching)

    def range(self, d: Token) -> int:
        return duration_ns(d)

    def offset(self, _kw: Token, d: Token) -> int:
        return duration_ns(d)

    def log_range(
        self, selector: tuple[syn.Matcher, ...], *rest: Any
    ) -> tuple[syn.LogQuery, int, int]:
        range_ns = next(x for x in rest if isinstance(x, int))
        ints = [x for x in rest if isinstance(x, int) or x is None]
        offset = ints[1] if len(ints) > 1 and ints[1] is not None else 0
        stages = tuple(x for x in rest if x is not None and not isinstance(x, int))
        return syn.LogQuery(selector, check_stages(stages)), range_ns, offset

    def grouping(self, kw: Token, *labels: Token | None) -> syn.Grouping:
        return syn.Grouping(kw == "without", tuple(str(x) for x in labels if x is not None))

    def range_agg(self, fn: Token, *args: Any) -> syn.RangeAgg:
        param = args[0] if fn == "quantile_over_time" else None
        (query, range_ns, offset), grouping = args[-2], args[-1]
        agg = syn.RangeAgg(str(fn), query, range_ns, offset, param, grouping)
        if agg.unwrap is None and fn in UNWRAP_FNS - {"rate"}:
            raise SemanticError(f"invalid aggregation {fn} without unwrap", fn)
        if agg.unwrap is not None and fn in LOG_ONLY_FNS:
            raise SemanticError(f"invalid aggregation {fn} with unwrap", fn)
        if grouping is not None and agg.unwrap is None:
            raise SemanticError(f"grouping not allowed for {fn} aggregation", fn)
        return agg

    def label_replace(
        self, kw: Token, expr: Any, dst: Token, repl: Token, src: Token, regex: Token
    ) -> syn.LabelReplace:
        d, pattern = unquote(dst), unquote(regex)
        try:
            rx = compile_regex(f"^(?:{pattern})$")
        except RegexError as exc:
            raise SemanticError(f"invalid regex in label_replace: {exc}", regex) from None
        if not LABEL_NAME.match(d):
            raise SemanticError(f"invalid destination label name in label_replace: {d}", dst)
        if isinstance(expr, syn.NumberLit):
            raise SemanticError("label_replace expects a vector, got a scalar", kw)
        return syn.LabelReplace(expr, d, unquote(repl), unquote(src), pattern, rx)

    def vector_agg(self, op: Token, *args: Any) -> syn.VectorAgg:
        grouping = next((a for a in args if isinstance(a, syn.Grouping)), None)
        rest = [a for a in args if a is not None and not isinstance(a, syn.Grouping)]
        if op == "approx_topk" and grouping is not None and grouping.without:
            raise SemanticError("approx_topk does not support without(); group with by()", op)
        if op == "approx_topk" and float(rest[0]) < 1:
            raise SemanticError(
                f"invalid parameter (must be greater than 0) approx_topk({rest[0]}", op)
        if op in ("topk", "bottomk", "approx_topk"):
            k = float(rest[0])
            if k != int(k) or k < 1:
                raise SemanticError(
                    f"invalid parameter for {op}: k must be a positive integer, got {rest[0]}", op
                )
            return syn.VectorAgg(str(op), rest[1], grouping, k)
        return syn.VectorAgg(str(op), rest[0], grouping)
