"""The LogQL parser: what it accepts, and Loki-style errors for what it refuses."""

from __future__ import annotations

import pytest

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.parser import LogQLParseError, parse

ACCEPTED = [
    ("selector", '{job="llm-api"}', syn.LogQuery),
    ("all-matchers", '{a="1", b!="2", c=~"x.+", d!~"y"}', syn.LogQuery),
    ("line-filters", '{a="b"} |= "x" != "y" |~ "z+" !~ "w"', syn.LogQuery),
    ("line-filter-or", '{a="b"} |= "x" or "y"', syn.LogQuery),
    ("raw-string", '{a="b"} |~ `\\d+`', syn.LogQuery),
    ("json", '{a="b"} | json', syn.LogQuery),
    ("json-params", '{a="b"} | json x="a.b", y', syn.LogQuery),
    ("logfmt", '{a="b"} | logfmt', syn.LogQuery),
    ("regexp", '{a="b"} | regexp "(?P<n>\\\\d+)"', syn.LogQuery),
    ("pattern", '{a="b"} | pattern "<ip> - <_> <status>"', syn.LogQuery),
    ("label-filters", '{a="b"} | json | x="1" and y>2, z<=3s or w>=1MB', syn.LogQuery),
    ("paren-filters", '{a="b"} | json | (x="1" or y="2") and z!=3', syn.LogQuery),
    ("formats", '{a="b"} | line_format "{{.x}}" | label_format y=x, z="{{.w | ToUpper}}"',
     syn.LogQuery),
    ("drop-keep", '{a="b"} | json | drop x, y="1" | keep a, z', syn.LogQuery),
    ("decolorize", '{a="b"} | decolorize', syn.LogQuery),
    ("rate", 'rate({a="b"}[5m])', syn.RangeAgg),
    ("range-before-pipeline", 'count_over_time({a="b"}[1m] | json)', syn.RangeAgg),
    ("offset", 'rate({a="b"}[5m] offset 1h)', syn.RangeAgg),
    ("unwrap-duration",
     'quantile_over_time(0.99, {a="b"} | json | unwrap duration(d) | __error__="" [5m]) by (m)',
     syn.RangeAgg),
    ("unwrap-bytes", 'sum_over_time({a="b"} | logfmt | unwrap bytes(size) [5m])', syn.RangeAgg),
    ("sum-by-prefix", 'sum by (model) (rate({a="b"} | json [1m]))', syn.VectorAgg),
    ("sum-by-suffix", 'sum(rate({a="b"}[1m])) by (model)', syn.VectorAgg),
    ("without", 'max without (x) (count_over_time({a="b"}[1m]))', syn.VectorAgg),
    ("topk", 'topk(3, sum by (u) (count_over_time({a="b"} | json [1h])))', syn.VectorAgg),
    ("binary-on",
     'sum by (m) (rate({a="b"} |= "error" [5m])) / on(m) sum by (m) (rate({a="b"}[5m]))',
     syn.BinOp),
    ("binary-bool", 'sum(rate({a="b"}[5m])) > bool 0.5', syn.BinOp),
    ("binary-ignoring",
     'count_over_time({a="b"}[1m]) * ignoring(level) count_over_time({a="c"}[1m])',
     syn.BinOp),
    ("scalars", "1 + 2 * 3 ^ 2", syn.BinOp),
    ("vector", "vector(1)", syn.VectorLit),
    ("set-and", 'rate({a="b"}[1m]) and rate({a="c"}[1m])', syn.BinOp),
    ("set-or-unless", 'rate({a="b"}[1m]) or rate({a="c"}[1m]) unless on(x) vector(1)', syn.BinOp),
    ("group-left", 'rate({a="b"}[1m]) * on(x) group_left rate({a="c"}[1m])', syn.BinOp),
    ("group-right-labels",
     'sum by (x) (rate({a="b"}[1m])) / ignoring(y) group_right(z) rate({a="c"}[1m])', syn.BinOp),
    ("label-replace", 'label_replace(rate({a="b"}[1m]), "d", "$1", "a", "(.*)")',
     syn.LabelReplace),
    ("approx-topk", 'approx_topk(3, sum by (x) (rate({a="b"}[1m])))', syn.VectorAgg),
    ("approx-topk-by", 'approx_topk by (x) (3, rate({a="b"}[1m]))', syn.VectorAgg),
    ("ip-line-filter", '{a="b"} |= ip("10.0.0.0/8") != ip("10.1.0.1-10.1.0.9")', syn.LogQuery),
    ("ip-label-filter", '{a="b"} | logfmt | addr = ip("::1") or peer != ip("fe80::/10")',
     syn.LogQuery),
    ("pattern-filters", '{a="b"} |> "<_> GET <_>" or "<_> POST <_>" !> "<_> /health"',
     syn.LogQuery),
    ("paren-log-range", 'count_over_time(({a="b"} |= "x" | json)[5m] offset 1m)', syn.RangeAgg),
    ("paren-log-query", '({a="b"} |= "x")', syn.LogQuery),
    ("template-functions",
     '{a="b"} | line_format `{{ if contains "x" .m }}{{ .m | trunc 3 | upper }}{{ end }}`'
     ' | label_format d=`{{ div .n 2 }}`', syn.LogQuery),
]


@pytest.mark.parametrize(("query", "kind"), [(q, k) for _, q, k in ACCEPTED],
                         ids=[i for i, _, _ in ACCEPTED])
def test_accepted_queries_parse_to_the_right_node(query: str, kind: type) -> None:
    """Every construct of the supported subset parses."""
    assert isinstance(parse(query), kind)


def test_precedence_follows_promql() -> None:
    """* binds tighter than +, and ^ is right-associative."""
    tree = parse("1 + 2 * 3")
    assert (isinstance(tree, syn.BinOp) and tree.op == "+"
            and isinstance(tree.rhs, syn.BinOp) and tree.rhs.op == "*")
    tree = parse("2 ^ 3 ^ 2")
    assert isinstance(tree, syn.BinOp) and isinstance(tree.rhs, syn.BinOp)


def test_durations_and_bytes_are_read_with_units() -> None:
    """5m is 300 s for a range; 1.5s and 2KiB are typed values in label filters."""
    agg = parse('rate({a="b"}[5m])')
    assert isinstance(agg, syn.RangeAgg) and agg.range_ns == 300 * 10**9
    q = parse('{a="b"} | json | d > 1.5s and s < 2KiB')
    assert isinstance(q, syn.LogQuery)
    lf = q.stages[1]
    assert isinstance(lf, syn.LabelFilter) and isinstance(lf.expr, syn.LabelAnd)
    left, right = lf.expr.left, lf.expr.right
    assert (left.kind, left.value) == ("duration", 1.5)  # type: ignore[union-attr]
    assert (right.kind, right.value) == ("bytes", 2048.0)  # type: ignore[union-attr]


REFUSED = [
    ("unclosed-selector", '{job="a"',
     r"parse error at line 1, col 9: syntax error: unexpected end of input"),
    ("unknown-word", "foo", r"parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"),
    ("missing-range", 'rate({a="b"})', r"col 13: syntax error: unexpected '\)'"),
    ("unterminated-string", '{a="b"} |= "x', r"col 12: literal not terminated"),
    ("empty-compatible-selector", '{a=~".*"}', r"at least one regexp or equality matcher"),
    ("unwrap-missing", 'sum_over_time({a="b"}[5m])',
     r"invalid aggregation sum_over_time without unwrap"),
    ("unwrap-not-allowed", 'count_over_time({a="b"} | unwrap x [5m])',
     r"invalid aggregation count_over_time with unwrap"),
    ("string-in-numeric-filter", '{a="b"} | x > "s"', r"unexpected STRING"),
    ("scalar-comparison", "1 > 2", r"comparisons between scalars must use BOOL"),
    ("unpack-unsupported", '{a="b"} | unpack',
     r"parse error at line 1, col 17.*does not support `unpack`"),
    ("sort-unsupported", 'sort(rate({a="b"}[1m]))', r"does not support `sort`"),
    ("set-operator-literal", 'rate({a="b"}[1m]) and 1',
     r"unexpected literal for right leg of logical/set binary operation \(and\)"),
    ("set-operator-bool", 'rate({a="b"}[1m]) or bool rate({a="c"}[1m])',
     r"bool modifier can only be used on comparison"),
    ("set-operator-group", 'rate({a="b"}[1m]) unless on(x) group_left rate({a="c"}[1m])',
     r'no grouping allowed for "unless" operation'),
    ("lookahead-regex", '{a="b"} |~ "x(?=y)"',
     r"error parsing regexp: invalid or unsupported Perl syntax: `\(\?=`"),
    ("backreference", '{a=~"(x)\\\\1"}', r"error parsing regexp: invalid escape sequence"),
    ("ip-regex-op", '{a="b"} |~ ip("1.2.3.4")', r"ip: invalid operation"),
    ("ip-bad-pattern", '{a="b"} |= ip("1.2.3")', r'ip: invalid pattern: "1.2.3"'),
    ("ip-label-numeric-op", '{a="b"} | addr > ip("1.2.3.4")', r"parse error"),
    ("pattern-filter-named", '{a="b"} |> "<ip> x"', r"named captures are not allowed"),
    ("approx-topk-without", 'approx_topk without (x) (3, rate({a="b"}[1m]))',
     r"approx_topk does not support without"),
    ("label-replace-dst", 'label_replace(rate({a="b"}[1m]), "1x", "$1", "a", "(.*)")',
     r"invalid destination label name in label_replace: 1x"),
    ("label-replace-regex", 'label_replace(rate({a="b"}[1m]), "d", "$1", "a", "(")',
     r"invalid regex in label_replace: error parsing regexp: missing closing \)"),
    ("label-format-twice", '{a="b"} | label_format x=y, x="{{.z}}"',
     r"multiple label name 'x' not allowed in a single format operation"),
    ("template-unclosed", '{a="b"} | line_format "{{ if .x }}y"',
     r"invalid line template: template: line:1: unexpected EOF"),
    ("bad-regex", '{a=~"("}', r"error parsing regexp"),
    ("regexp-without-names", '{a="b"} | regexp "x+"', r"at least one named capture"),
    ("pattern-without-captures", '{a="b"} | pattern "abc"', r"at least one capture is required"),
    ("template-function", '{a="b"} | line_format "{{ .x | nosuch }}"',
     r'function "nosuch" not defined'),
    ("bad-escape", '{a="b"} |= "\\d"', r"unknown escape sequence"),
    ("empty", "   ", r"parse error"),
    ("bool-on-arithmetic", "1 + bool 2", r"bool modifier can only be used on comparison"),
    ("topk-k", 'topk(0, rate({a="b"}[1m]))', r"k must be a positive integer"),
    ("stage-after-unwrap", 'sum_over_time({a="b"} | unwrap x | json [1m])',
     r"only label filters can follow unwrap"),
    ("multiline-position", '{a="b"}\n| json\n| x ! 1', r"parse error at line 3, col 5"),
]


@pytest.mark.parametrize(("query", "message"), [(q, m) for _, q, m in REFUSED],
                         ids=[i for i, _, _ in REFUSED])
def test_refused_queries_name_the_problem(query: str, message: str) -> None:
    """Malformed or unsupported LogQL raises a Loki-style parse error."""
    with pytest.raises(LogQLParseError, match=message) as info:
        parse(query)
    assert str(info.value).startswith("parse error")
