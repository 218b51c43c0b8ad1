"""LogQL from Loki's query documentation beyond the basics: set operators, group_left and
group_right, label_replace, approx_topk, ip() and pattern filters, a parenthesized log
expression in a range, and the template functions of line_format/label_format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labkit.standins.loki.evaluator import EvalError, Grid, Stats, evaluate, select_logs
from labkit.standins.loki.parser import parse
from labkit.standins.loki.store import Store

S = 10**9
T0 = 1_700_000_000 * S
A = {"job": "api", "level": "info", "team": "x"}
B = {"job": "api", "level": "error", "team": "y"}
W = {"job": "web", "level": "info", "team": "x"}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(tmp_path)
    lines = {
        "A": ["1"] * 4,  # api/info at t=1..4
        "B": ["2"] * 2,  # api/error at t=1..2
        "W": ["3"],  # web/info at t=1
    }
    s.push([(labels, [(T0 + (i + 1) * S, ln) for i, ln in enumerate(lines[name])])
            for name, labels in (("A", A), ("B", B), ("W", W))])
    yield s
    s.close()


def _at(store: Store, query: str, t_s: int = 10) -> dict[tuple[tuple[str, str], ...], float]:
    out = evaluate(store, parse(query), Grid.instant(T0 + t_s * S), Stats())  # type: ignore[arg-type]
    assert isinstance(out, dict)
    return {k: float(v[0]) for k, v in out.items() if not np.isnan(v[0])}


def _by(out: dict[Any, float], label: str) -> dict[str, float]:
    return {dict(k).get(label, ""): v for k, v in out.items()}


COUNT = 'sum by (level, team) (count_over_time({job=~"api|web"}[1m]))'


def test_and_keeps_left_samples_with_a_match(store: Store) -> None:
    """`and` keeps the left series whose signature has a right-hand sample, values from the left."""
    out = _at(store, f'{COUNT} and on(level) sum by (level) (count_over_time({{job="web"}}[1m]))')
    assert {tuple(sorted(dict(k).items())): v for k, v in out.items()} == {
        (("level", "info"), ("team", "x")): 5.0}


def test_or_adds_right_series_without_a_left_match(store: Store) -> None:
    """`or` is the left side plus right series whose signature is not on the left."""
    out = _at(store, 'sum by (level) (count_over_time({job="api", level="info"}[1m])) '
                     'or sum by (level) (count_over_time({job="api"}[1m]))')
    assert _by(out, "level") == {"info": 4.0, "error": 2.0}


def test_unless_drops_left_series_with_a_match(store: Store) -> None:
    """`unless` keeps only the left series with no right-hand match."""
    out = _at(store, f'{COUNT} unless on(team) sum by (team) (count_over_time({{job="web"}}[1m]))')
    assert _by(out, "level") == {"error": 2.0}


def test_vector_on_the_right_of_or(store: Store) -> None:
    """`... or vector(0)` gives 0 when the left side is empty, the usual Loki idiom."""
    assert _at(store, 'sum(count_over_time({job="none"}[1m])) or vector(0)') == {(): 0.0}
    assert _at(store, 'sum(count_over_time({job="api"}[1m])) or vector(0)') == {(): 6.0}


def test_group_left_divides_many_by_one_and_copies_labels(store: Store) -> None:
    """group_left(team): each level's count over its job's total, carrying the right's team."""
    q = ('sum by (job, level) (count_over_time({job="api"}[1m])) / on(job) group_left(team) '
         'sum by (job, team) (count_over_time({job="api", level="error"}[1m]))')
    out = _at(store, q)
    assert {(dict(k)["level"], dict(k)["team"]): v for k, v in out.items()} == {
        ("info", "y"): 2.0, ("error", "y"): 1.0}


def test_group_right_is_the_mirror(store: Store) -> None:
    """group_right keeps the right side's labels; values still compute left op right."""
    q = ('sum by (job) (count_over_time({job="api"}[1m])) - on(job) group_right '
         'sum by (job, level) (count_over_time({job="api"}[1m]))')
    assert _by(_at(store, q), "level") == {"info": 2.0, "error": 4.0}


def test_many_to_one_without_group_left_is_refused(store: Store) -> None:
    """Two left series for one right one need group_left, as Prometheus says."""
    q = ('sum by (job, level) (count_over_time({job="api"}[1m])) / on(job) '
         'sum by (job) (count_over_time({job="api"}[1m]))')
    with pytest.raises(EvalError, match="many-to-one matching must be explicit"):
        _at(store, q)


def test_label_replace_rewrites_and_keeps_non_matching_series(store: Store) -> None:
    """label_replace: a full match sets dst from $1; a non-match leaves the series alone."""
    q = ('label_replace(sum by (level) (count_over_time({job="api"}[1m])), '
         '"short", "$1", "level", "(e|i).*")')
    out = _at(store, q)
    assert {(dict(k)["level"], dict(k).get("short")): v for k, v in out.items()} == {
        ("info", "i"): 4.0, ("error", "e"): 2.0}
    q2 = ('label_replace(sum by (level) (count_over_time({job="api"}[1m])), '
          '"short", "$1", "level", "rr")')  # anchored: "rr" matches neither
    assert all("short" not in dict(k) for k in _at(store, q2))


def test_label_replace_collision_is_refused(store: Store) -> None:
    """Rewriting two series onto one label set is an error, not a silent merge."""
    q = ('label_replace(sum by (level) (count_over_time({job="api"}[1m])), '
         '"level", "same", "level", ".*")')
    with pytest.raises(EvalError, match="same labelset"):
        _at(store, q)


def test_approx_topk_is_the_top_k(store: Store) -> None:
    """approx_topk(1, ...) returns the largest series."""
    out = _at(store, f"approx_topk(1, {COUNT})")
    assert _by(out, "level") == {"info": 5.0}  # api/info 4 + web/info 1


def _log(store: Store, query: str) -> list[str]:
    out = select_logs(store, parse(query), T0, T0 + 100 * S, 100, True, Stats())  # type: ignore[arg-type]
    return [line for _, vals in out for _, line in vals]


@pytest.fixture
def ips(tmp_path: Path) -> Any:
    s = Store(tmp_path / "ip")
    lines = ["from 192.168.1.20 ok", "peer=10.0.0.7 bad", "v6 2001:db8::1 ok",
             "ver 1.2.3 not an ip", "addr=fe80::1%eth0 local", "x192.168.1.20y"]
    s.push([({"job": "ip"}, [(T0 + (i + 1) * S, ln) for i, ln in enumerate(lines)])])
    yield s
    s.close()


@pytest.mark.parametrize(("query", "expected"), [
    ('{job="ip"} |= ip("192.168.1.0/24")', ["from 192.168.1.20 ok", "x192.168.1.20y"]),
    ('{job="ip"} |= ip("10.0.0.1-10.0.0.9")', ["peer=10.0.0.7 bad"]),
    ('{job="ip"} |= ip("2001:db8::/32")', ["v6 2001:db8::1 ok"]),
    ('{job="ip"} |= ip("fe80::1")', ["addr=fe80::1%eth0 local"]),
    ('{job="ip"} != ip("0.0.0.0/0") != ip("::/0")', ["ver 1.2.3 not an ip"]),
    ('{job="ip"} | logfmt | peer = ip("10.0.0.0/8")', ["peer=10.0.0.7 bad"]),
    ('{job="ip"} | logfmt | peer != ip("10.0.0.0/8")', []),
], ids=["cidr-v4", "range-v4", "cidr-v6", "single-v6", "no-ip", "label-eq", "label-neq"])
def test_ip_filters(ips: Store, query: str, expected: list[str]) -> None:
    """ip() finds addresses inside lines and label values: CIDR, ranges, v4 and v6."""
    assert _log(ips, query) == expected


@pytest.mark.parametrize(("query", "expected"), [
    ('{job="ip"} |> "<_> 192.168.1.20 <_>"', ["from 192.168.1.20 ok"]),
    ('{job="ip"} |> "<_> ok"', ["from 192.168.1.20 ok", "v6 2001:db8::1 ok"]),
    ('{job="ip"} !> "<_> ok"', ["peer=10.0.0.7 bad", "ver 1.2.3 not an ip",
                                "addr=fe80::1%eth0 local", "x192.168.1.20y"]),
    ('{job="ip"} |> "peer=<_> bad" or "ver <_> not an ip"',
     ["peer=10.0.0.7 bad", "ver 1.2.3 not an ip"]),
], ids=["middle", "suffix", "negated", "or"])
def test_pattern_line_filters(ips: Store, query: str, expected: list[str]) -> None:
    """|> keeps lines the whole pattern matches; !> the others."""
    assert _log(ips, query) == expected


def test_parenthesized_log_expression_in_a_range(store: Store) -> None:
    """count_over_time(({...} |= "1")[1m]) counts what the inner expression selects."""
    assert _by(_at(store, 'sum by (level) (count_over_time(({job="api"} |= "1")[1m]))'),
               "level") == {"info": 4.0}


@pytest.fixture
def tstore(tmp_path: Path) -> Any:
    s = Store(tmp_path / "t")
    line = '{"path":"/a b/c","n":"7","q":"[1,2,3]","err":"ErrTimeout"}'
    s.push([({"job": "t"}, [(T0 + S, line)])])
    yield s
    s.close()


@pytest.mark.parametrize(("template", "expected"), [
    ('{{ .path | replace " " "_" | trunc 5 | upper }}', "/A_B/"),
    ('{{ if contains "Timeout" .err }}timeout{{ else }}other{{ end }}', "timeout"),
    ('{{ add .n 3 }} {{ div .n 2 }} {{ mod .n 4 }} {{ divf .n 2 }} {{ mulf .n 1000000 }}',
     "10 3 3 3.5 7e+06"),
    ('{{ range $i, $v := fromJson .q }}{{ $i }}:{{ $v }} {{ end }}', "0:1 1:2 2:3 "),
    ('{{ .missing | default "-" }}|{{ default "-" .n }}', "-|7"),
    ('{{ regexReplaceAll "(\\\\w)(\\\\w+)" .err "${2}-$1" }} {{ count "[A-Z]" .err }}',
     "rrTimeout-E 2"),
    ('{{ __timestamp__ | date "2006-01-02T15:04:05Z07:00" }} {{ __timestamp__ | unixEpoch }}',
     "2023-11-14T22:13:21Z 1700000001"),
    ('{{ printf "%05.1f|%-4s|%q" (float64 .n) "ab" .err }}', '007.0|ab  |"ErrTimeout"'),
    ('{{ alignRight 6 .n }}|{{ substr 1 3 .path }}|{{ title "hello world" }}',
     "     7|a |Hello World"),
], ids=["pipes", "if-else", "math", "range-json", "default", "regex-count", "date",
        "printf", "strings"])
def test_line_format_functions(tstore: Store, template: str, expected: str) -> None:
    """line_format runs Loki's template functions with Go's semantics."""
    q = '{job="t"} | json | line_format `' + template + "`"
    assert _log(tstore, q) == [expected]


def test_template_runtime_error_marks_the_line(tstore: Store) -> None:
    """A template that fails on a line keeps the line and sets __error__=TemplateFormatErr."""
    out = select_logs(tstore, parse('{job="t"} | json | line_format `{{ div 1 0 }}`'),
                      T0, T0 + 100 * S, 10, True, Stats())
    (labels, values), = out
    assert dict(labels)["__error__"] == "TemplateFormatErr"
    assert "integer divide by zero" in dict(labels)["__error_details__"]
    assert values[0][1].startswith('{"path"')
