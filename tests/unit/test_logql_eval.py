"""The LogQL evaluator, table-driven: a query, the lines stored, the result expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.evaluator import EvalError, Grid, Stats, evaluate, select_logs
from labkit.standins.loki.parser import parse
from labkit.standins.loki.store import Store
from labkit.standins.loki.vectors import Scalar

S = 10**9
T0 = 1_700_000_000 * S
API = {"job": "api", "level": "info"}
ERR = {"job": "api", "level": "error"}


_OPEN: list[Store] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Any:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _store(tmp_path: Path, streams: list[tuple[dict[str, str], list[str]]]) -> Store:
    """Each stream's i-th line is stored at T0 + (i+1) seconds."""
    store = Store(tmp_path)
    _OPEN.append(store)
    store.push(
        [(labels, [(T0 + (i + 1) * S, line) for i, line in enumerate(lines)])
         for labels, lines in streams]
    )
    return store


def _lines(tmp_path: Path, streams: list[tuple[dict[str, str], list[str]]], query: str,
           limit: int = 100, forward: bool = True) -> list[tuple[dict[str, str], list[str]]]:
    store = _store(tmp_path, streams)
    out = select_logs(
        store, parse(query), T0, T0 + 100 * S, limit, forward, Stats()  # type: ignore[arg-type]
    )
    return [(dict(k), [line for _, line in vals]) for k, vals in out]


JSON_LINES = [
    '{"model":"a","duration_ms":120,"status":200,"user":{"id":"u1"},"msg":"ok"}',
    '{"model":"b","duration_ms":900,"status":500,"user":{"id":"u2"},"msg":"boom"}',
    '{"model":"a","duration_ms":50,"status":200,"user":{"id":"u2"},"msg":"ok"}',
]

LOG_CASES: list[
    tuple[str, str, list[tuple[dict[str, str], list[str]]], list[tuple[dict[str, str], list[str]]]]
] = [
    ("contains", '{job="api"} |= "boom"', [(API, ["ok 1", "boom 2", "ok 3"])], [(API, ["boom 2"])]),
    ("not-contains-chained", '{job="api"} != "boom" |= "3"',
     [(API, ["ok 1", "boom 2", "ok 3"])], [(API, ["ok 3"])]),
    ("regex-filter", '{job="api"} |~ "o+k \\\\d"', [(API, ["ok 1", "boom 2"])], [(API, ["ok 1"])]),
    ("not-regex", '{job="api"} !~ "^ok"', [(API, ["ok 1", "boom 2"])], [(API, ["boom 2"])]),
    ("or-filter", '{job="api"} |= "1" or "2"',
     [(API, ["ok 1", "boom 2", "ok 3"])], [(API, ["ok 1", "boom 2"])]),
    ("selector-regex", '{level=~"err.*"}', [(API, ["a"]), (ERR, ["b"])], [(ERR, ["b"])]),
    ("selector-neq", '{job="api", level!="info"}', [(API, ["a"]), (ERR, ["b"])], [(ERR, ["b"])]),
    ("selector-not-regex", '{job="api", level!~"i.*"}',
     [(API, ["a"]), (ERR, ["b"])], [(ERR, ["b"])]),
    ("json-numeric-filter", '{job="api"} | json | duration_ms > 100 | line_format "{{.model}}"',
     [(API, JSON_LINES)],
     [({**API, "duration_ms": "120", "model": "a", "status": "200", "user_id": "u1", "msg": "ok"},
       ["a"]),
      ({**API, "duration_ms": "900", "model": "b", "status": "500", "user_id": "u2", "msg": "boom"},
       ["b"])]),
    ("json-nested-and-keep", '{job="api"} | json | user_id="u2" and status>=500 | keep model',
     [(API, JSON_LINES)], [({"model": "b"}, [JSON_LINES[1]])]),
    ("json-or", '{job="api"} | json | status=500 or duration_ms<60 | keep model, status',
     [(API, JSON_LINES)],
     [({"model": "a", "status": "200"}, [JSON_LINES[2]]),
      ({"model": "b", "status": "500"}, [JSON_LINES[1]])]),
    ("json-params", '{job="api"} | json who="user.id" | drop job, level | line_format "{{.who}}"',
     [(API, JSON_LINES[:1])], [({"who": "u1"}, ["u1"])]),
    ("json-clash-extracted", '{job="api"} | json | keep level, level_extracted',
     [(API, ['{"level":"warn"}'])],
     [({"level": "info", "level_extracted": "warn"}, ['{"level":"warn"}'])]),
    ("json-sanitise", '{job="api"} | json | keep user_agent, _1st',
     [(API, ['{"user-agent":"curl","1st":"x"}'])],
     [({"user_agent": "curl", "_1st": "x"}, ['{"user-agent":"curl","1st":"x"}'])]),
    ("json-error-label", '{job="api"} | json | __error__="JSONParserErr" | drop __error_details__',
     [(API, ["not json", '{"a":"1"}'])], [({**API, "__error__": "JSONParserErr"}, ["not json"])]),
    ("json-error-filtered", '{job="api"} | json | __error__="" | keep a',
     [(API, ["not json", '{"a":"1"}'])], [({"a": "1"}, ['{"a":"1"}'])]),
    ("logfmt", '{job="api"} | logfmt | took > 1s | keep msg',
     [(API, ['msg="slow one" took=2.5s', "msg=fast took=10ms"])],
     [({"msg": "slow one"}, ['msg="slow one" took=2.5s'])]),
    ("regexp", '{job="api"} | regexp "user=(?P<user>\\\\w+)" | keep user',
     [(API, ["user=ann x", "nobody"])], [({}, ["nobody"]), ({"user": "ann"}, ["user=ann x"])]),
    ("pattern", '{job="api"} | pattern "<method> <path> <_>" | keep method, path',
     [(API, ["GET /v1/chat 200"])],
     [({"method": "GET", "path": "/v1/chat"}, ["GET /v1/chat 200"])]),
    ("bytes-filter", '{job="api"} | logfmt | size > 1KB | keep size',
     [(API, ["size=2KiB", "size=10B"])], [({"size": "2KiB"}, ["size=2KiB"])]),
    ("numeric-filter-error",
     '{job="api"} | logfmt | n > 1 | keep __error__ | drop __error_details__',
     [(API, ["n=abc", "n=0"])], [({"__error__": "LabelFilterErr"}, ["n=abc"])]),
    # Loki's LabelsFormatter renames in order and reads the labels for templates at the
    # first template: `user` is already renamed away when the template runs.
    ("label-format-rename-template",
     '{job="api"} | logfmt | label_format who=user, tag="{{.level}}-{{.user | ToUpper}}"'
     ' | keep who, tag',
     [(API, ["user=ann"])], [({"who": "ann", "tag": "info-"}, ["user=ann"])]),
    ("label-format-template-then-rename",
     '{job="api"} | logfmt | label_format tag="{{.level}}-{{.user | ToUpper}}", who=user'
     ' | keep who, tag',
     [(API, ["user=ann"])], [({"who": "ann", "tag": "info-ANN"}, ["user=ann"])]),
    ("drop-with-matcher", '{job="api"} | logfmt | drop x="1" | keep x, y',
     [(API, ["x=1 y=2", "x=3 y=4"])],
     [({"x": "3", "y": "4"}, ["x=3 y=4"]), ({"y": "2"}, ["x=1 y=2"])]),
    ("decolorize", '{job="api"} | decolorize', [(API, ["\x1b[31mred\x1b[0m"])], [(API, ["red"])]),
    ("line-format-line", '{job="api"} | line_format "[{{__line__}}]"',
     [(API, ["x"])], [(API, ["[x]"])]),
]


@pytest.mark.parametrize(
    ("query", "streams", "expected"), [c[1:] for c in LOG_CASES], ids=[c[0] for c in LOG_CASES]
)
def test_log_queries(tmp_path: Path, query: str, streams: Any, expected: Any) -> None:
    """Log pipelines filter, parse and relabel lines as Loki does."""
    got = _lines(tmp_path, streams, query)
    assert sorted(got, key=lambda s: sorted(s[0].items())) == sorted(
        expected, key=lambda s: sorted(s[0].items())
    )


def test_limit_and_direction(tmp_path: Path) -> None:
    """limit keeps the newest lines (backward, newest first) or the oldest (forward)."""
    streams = [(API, ["1", "3"]), (ERR, ["2", "4"])]
    assert _lines(tmp_path / "b", streams, '{job="api"}', limit=2, forward=False) == [
        (ERR, ["4"]),
        (API, ["3"]),
    ]
    assert _lines(tmp_path / "f", streams, '{job="api"}', limit=3, forward=True) == [
        (ERR, ["2"]),
        (API, ["1", "3"]),
    ]


def _metric(
    tmp_path: Path, streams: Any, query: str, start_s: int, end_s: int, step_s: int
) -> dict[Any, list[float]]:
    store = _store(tmp_path, streams)
    grid = Grid.range(T0 + start_s * S, T0 + end_s * S, step_s * S)
    out = evaluate(store, parse(query), grid, Stats())  # type: ignore[arg-type]
    if isinstance(out, Scalar):
        out = {(): out.values}
    return {
        dict(k).get("model", dict(k).get("level", "")) if k else "": [
            None if np.isnan(v) else round(float(v), 6) for v in arr
        ]
        for k, arr in out.items()
    }


# ms 10..100 at t=1..10
TEN = [
    (API, [f'{{"model":"{"ab"[i % 2]}","ms":{(i + 1) * 10},"d":"{i + 1}s"}}' for i in range(10)])
]
MIXED = [(API, ["x"] * 6), (ERR, ["e"] * 3)]  # info at t=1..6, error at t=1..3

METRIC_CASES = [
    ("count-window-left-open", 'count_over_time({job="api", level="info"}[5s])',
     MIXED, 5, 10, 5, {"info": [5, 1]}),
    ("rate-divides-by-range", 'rate({job="api", level="info"}[2s])',
     MIXED, 2, 6, 2, {"info": [1.0, 1.0, 1.0]}),
    ("bytes-over-time", 'bytes_over_time({job="api", level="error"}[10s])',
     MIXED, 10, 10, 1, {"error": [3]}),
    ("bytes-rate", 'bytes_rate({job="api", level="error"}[10s])',
     MIXED, 10, 10, 1, {"error": [0.3]}),
    ("sum-by-json", 'sum by (model) (count_over_time({job="api"} | json [10s]))',
     TEN, 10, 10, 1, {"a": [5], "b": [5]}),
    ("sum-over-time", 'sum_over_time({job="api"} | json | unwrap ms [4s]) by ()',
     TEN, 4, 4, 1, {"": [100]}),
    ("unwrap-rate", 'rate({job="api"} | json | unwrap ms [4s]) by ()', TEN, 4, 4, 1, {"": [25]}),
    ("avg-by", 'avg_over_time({job="api"} | json | unwrap ms [10s]) by (model)',
     TEN, 10, 10, 1, {"a": [50], "b": [60]}),
    ("min-max",
     'max_over_time({job="api"} | json | unwrap ms [10s]) by ()'
     ' - min_over_time({job="api"} | json | unwrap ms [10s]) by ()',
     TEN, 10, 10, 1, {"": [90]}),
    ("stddev", 'stddev_over_time({job="api"} | json | model="a" | unwrap ms [10s]) by ()',
     TEN, 10, 10, 1, {"": [28.284271]}),
    ("quantile", 'quantile_over_time(0.5, {job="api"} | json | unwrap ms [10s]) by ()',
     TEN, 10, 10, 1, {"": [55]}),
    ("first-last",
     'last_over_time({job="api"} | json | unwrap ms [10s]) by ()'
     ' / first_over_time({job="api"} | json | unwrap ms [10s]) by ()',
     TEN, 10, 10, 1, {"": [10]}),
    ("unwrap-duration", 'sum_over_time({job="api"} | json | unwrap duration(d) [3s]) by ()',
     TEN, 3, 3, 1, {"": [6]}),
    ("offset", 'count_over_time({job="api", level="info"}[3s] offset 3s)',
     MIXED, 6, 9, 3, {"info": [3, 3]}),
    ("absent", 'absent_over_time({job="none"}[1s])', MIXED, 1, 1, 1, {"": [1]}),
    ("absent-when-present", 'absent_over_time({job="api"}[1s])', MIXED, 1, 1, 1, {}),
    ("vector-sum-avg",
     'sum(count_over_time({job="api"}[10s])) + avg(count_over_time({job="api"}[10s]))',
     MIXED, 10, 10, 1, {"": [13.5]}),
    ("count-stddev",
     'count(count_over_time({job="api"}[10s])) * stddev(count_over_time({job="api"}[10s]))',
     MIXED, 10, 10, 1, {"": [3]}),
    ("min-max-agg",
     'max(count_over_time({job="api"}[10s])) - min(count_over_time({job="api"}[10s]))',
     MIXED, 10, 10, 1, {"": [3]}),
    ("without", 'sum without (level) (count_over_time({job="api"}[10s]))',
     MIXED, 10, 10, 1, {"": [9]}),
    ("topk", 'topk(1, count_over_time({job="api"}[10s]))', MIXED, 10, 10, 1, {"info": [6]}),
    ("bottomk", 'bottomk(1, count_over_time({job="api"}[10s]))', MIXED, 10, 10, 1, {"error": [3]}),
    ("ratio-ignoring",
     'count_over_time({job="api", level="error"}[10s])'
     ' / ignoring(level) count_over_time({job="api", level="info"}[10s])',
     MIXED, 10, 10, 1, {"": [0.5]}),
    ("ratio-on",
     'sum by (job) (count_over_time({level="error"}[10s]))'
     ' / on(job) sum by (job) (count_over_time({job="api"}[10s]))',
     MIXED, 10, 10, 1, {"": [0.333333]}),
    ("compare-filters", 'count_over_time({job="api"}[10s]) > 4', MIXED, 10, 10, 1, {"info": [6]}),
    ("compare-bool", 'count_over_time({job="api"}[10s]) > bool 4',
     MIXED, 10, 10, 1, {"info": [1], "error": [0]}),
    ("scalar-arith", "2 * 3 + 1", MIXED, 1, 2, 1, {"": [7, 7]}),
    ("scalar-left", '10 - count_over_time({job="api", level="error"}[10s])',
     MIXED, 10, 10, 1, {"error": [7]}),
    ("error-filtered", 'sum(count_over_time({job="api"} | json | __error__="" [10s]))',
     [*MIXED, ({"job": "api", "level": "debug"}, ['{"a":1}'])], 10, 10, 1, {"": [1]}),
    ("empty-steps-absent", 'count_over_time({job="api", level="error"}[1s])',
     MIXED, 1, 6, 1, {"error": [1, 1, 1, None, None, None]}),
]


@pytest.mark.parametrize(
    ("query", "streams", "start", "end", "step", "expected"),
    [c[1:] for c in METRIC_CASES],
    ids=[c[0] for c in METRIC_CASES],
)
def test_metric_queries(
    tmp_path: Path, query: str, streams: Any, start: int, end: int, step: int, expected: Any
) -> None:
    """Range and vector aggregations, and binary operators, give Loki's numbers."""
    assert _metric(tmp_path, streams, query, start, end, step) == expected


ERROR_CASES = [
    ("json-error", 'sum(count_over_time({job="api"} | json [10s]))',
     r"pipeline error: 'JSONParserErr'"),
    ("unwrap-error", 'sum_over_time({job="api"} | logfmt | unwrap n [10s])',
     r"pipeline error: 'SampleExtractionErr'"),
    ("label-filter-error", 'sum(count_over_time({job="api"} | logfmt | n > 1 [10s]))',
     r"pipeline error: 'LabelFilterErr'"),
    ("logfmt-error", 'count_over_time({job="api"} | logfmt [10s])',
     r"pipeline error: 'LogfmtParserErr'"),
]


@pytest.mark.parametrize(
    ("query", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_metric_queries_with_errors_are_refused(tmp_path: Path, query: str, message: str) -> None:
    """A sample carrying __error__ fails the metric query, with Loki's hint to filter it."""
    with pytest.raises(EvalError, match=message):
        _metric(tmp_path, [(API, ["n=abc", 'x="unterminated'])], query, 10, 10, 1)


def test_duplicate_series_in_matching_is_refused(tmp_path: Path) -> None:
    """Vector matching that is not one-to-one is an error, not a guess."""
    with pytest.raises(EvalError, match="many-to-many"):
        _metric(
            tmp_path,
            MIXED,
            'count_over_time({job="api"}[10s]) / on(job) count_over_time({job="api"}[10s])',
            10,
            10,
            1,
        )


def test_too_many_points_is_refused() -> None:
    """More than 11,000 steps is refused, as in Loki."""
    with pytest.raises(EvalError, match="11,000 points"):
        Grid.range(0, 20000 * S, S)


PROJECTION_LINES = [(API, [
    '{"model":"a","ms":5,"level":"warn"}', '{"model":{"name":"n"},"ms":7}',
    '{"user-id":"u","model":"b","ms":1}', '{"model":null,"ms":2}', "not json",
    '{"model":"a","ms":"abc"}', "[1,2]",
])]
# Lines meant to trip a shortcut: names that sanitise or nest into one another, keys spelling
# __error__, escapes, JSON scalars of every type, duplicate keys, odd whitespace.
TRICKY_LINES = [
    '{"model":"a","ms":5,"level":"warn","user_id":"x"}',
    '{"model":"b","ms":9,"level":"warn","user_id":"y"}',
    '{"model":"c","user_id":"x","user-id":"y","ms":1}',
    '{"user":{"id":"nested"},"user_id":"flat","model":"a"}',
    '{"user_id":"flat","user":{"id":"nested"},"model":"b"}',
    '{"__error__":"fake","model":"a","ms":1}', '{"--error--":"fake2","model":"a"}',
    '{"model":"\\u0061","ms":3}', '{"mod\\u0065l":"escaped-key","ms":3}',
    '{"model":true,"ms":1}', '{"model":1,"ms":1}', '{"model":1.50,"ms":1.0}',
    '{"model":1e3,"ms":-0.0}', '{"model":"a","model":"dup","ms":2}', '{"model":[1,2],"ms":2}',
    '{"level_extracted":"x","level":"y"}',
    '"just a string"', "", '{"model":"é","ms":4}', '  {"model":"ws"}  ', '{"model":"nl"}\n',
    '{"a":{"b":{"c":1}},"a_b_c":2,"model":"a"}', '{"a_b_c":3,"a":{"b":{"c":4}},"model":"b"}',
    '{"model":"err","error":"boom","ms":8}', '{"status":500,"model":"a","ms":300}',
    '{"status":200,"model":"b"}',
    '{"model":"a","ms":"12ms"}', '{"model":"a","ms":"1.5KB"}', '{"model":"b","user_id":null}',
    '{"model":"b","ms":"NaN"}', '{"model":"a","ms":"+Inf"}', '{"model":"c","ms":"2KiB"}',
]
TRICKY = [
    (API, TRICKY_LINES),
    (ERR, TRICKY_LINES[::-1]),
    ({"job": "api", "level": "debug", "user_id": "s"}, TRICKY_LINES[:9]),
]
CLEAN = [
    (API, [ln for ln in TRICKY_LINES if ln.startswith('{"model"') or ln.startswith('{"user')]),
    (ERR, [
        f'{{"model":"{"abc"[i % 3]}","ms":{i},"user_id":"u{i % 4}","status":{200 + 300 * (i % 2)}}}'
        for i in range(25)
    ]),
]
PROJECTION_QUERIES = [
    ("sum-by-model", 'sum by (model) (count_over_time({job="api"} | json | __error__="" [10s]))',
     PROJECTION_LINES),
    ("nested-name",
     'sum by (model_name) (count_over_time({job="api"} | json | __error__="" [10s]))',
     PROJECTION_LINES),
    ("sanitised-name",
     'sum by (user_id) (count_over_time({job="api"} | json | __error__="" [10s]))',
     PROJECTION_LINES),
    ("clash",
     'sum by (level, level_extracted) (count_over_time({job="api"} | json | __error__="" [10s]))',
     PROJECTION_LINES),
    ("filter-and-unwrap",
     'sum by (model) (sum_over_time({job="api"} |= "ms" | json | ms > 1'
     ' | __error__="" | unwrap ms | __error__="" [10s]))',
     PROJECTION_LINES),
    ("errors-kept", 'sum by (model) (count_over_time({job="api"} | json [10s]))', PROJECTION_LINES),
    ("tricky-model", 'sum by (model) (count_over_time({job="api"} | json | __error__="" [1m]))',
     TRICKY),
    ("tricky-user",
     'sum by (user_id, level) (count_over_time({job="api"} | json | __error__="" [1m]))',
     TRICKY),
    ("tricky-nested",
     'sum by (a_b_c, user_id) (count_over_time({job="api"} | json | __error__="" [1m]))',
     TRICKY),
    ("tricky-extracted", 'sum by (level_extracted) (rate({job="api"} | json | __error__="" [1m]))',
     TRICKY),
    ("tricky-errors", 'sum by (model) (count_over_time({job="api"} | json [1m]))', TRICKY),
    ("tricky-error-label", 'sum by (__error__) (count_over_time({job="api"} | json [1m]))', TRICKY),
    ("tricky-bytes", 'sum by (model) (bytes_over_time({job="api"} | json | __error__="" [1m]))',
     TRICKY),
    ("tricky-line-filters",
     'sum by (model) (count_over_time({job="api"} |= "model" != "dup" |~ "[0-9]"'
     ' | json | __error__="" [1m]))',
     TRICKY),
    ("tricky-filters",
     'sum by (model) (count_over_time({job="api"} | json | model=~"a|b"'
     ' or ms >= 3, user_id!="x" | __error__="" [1m]))',
     TRICKY),
    ("tricky-unwrap",
     'max by (model) (max_over_time({job="api"} | json | __error__=""'
     ' | unwrap ms | __error__="" [1m]))',
     TRICKY),
    ("tricky-unwrap-error",
     'sum by (model) (sum_over_time({job="api"} | json | __error__="" | unwrap ms [1m]))',
     TRICKY),
    ("tricky-duration",
     'sum by (model) (sum_over_time({job="api"} | json | __error__=""'
     ' | unwrap duration(ms) | __error__="" [1m]))',
     TRICKY),
    ("tricky-unwrap-bytes",
     'sum by (model) (sum_over_time({job="api"} | json | __error__=""'
     ' | unwrap bytes(ms) | __error__="" [1m]))',
     TRICKY),
    ("tricky-unwrap-filtered",
     'sum by (model) (sum_over_time({job="api"} | json | ms > 2'
     ' | __error__="" | unwrap ms | __error__="" [1m]))',
     TRICKY),
    ("tricky-unwrap-details",
     'sum by (model, __error_details__) (sum_over_time({job="api"} | json'
     ' | __error__="" | unwrap ms [1m]))',
     TRICKY),
    ("filter-only", 'count_over_time({job="api"} |= "model" [1m])', TRICKY),
    ("filter-only-sum", 'sum(count_over_time({job="api"} |= "a" != "dup" [1m]))', TRICKY),
    ("filter-only-without",
     'sum without (level) (bytes_over_time({job="api"} |~ "[0-9]+" !~ "^\\\\s" [1m]))',
     TRICKY),
    ("filter-only-or-empty", 'sum by (level) (rate({job="api"} |= "é" or "" [1m]))', TRICKY),
    ("filter-only-multibyte", 'sum by (level) (count_over_time({job="api"} |= "é" or "\\n" [1m]))',
     TRICKY),
    ("filter-only-error-label", 'sum(count_over_time({job="api"} |= "a" [1m]))',
     [*TRICKY, ({"job": "api", "__error__": "x"}, ["a", "b"])]),
    ("clean-rate", 'sum by (model) (rate({job="api"} | json [10s]))', CLEAN),
    ("clean-two-labels",
     'sum by (model, user_id) (count_over_time({job="api"} | json | status >= 500 [10s]))',
     CLEAN),
    ("clean-unwrap",
     'sum by (user_id) (sum_over_time({job="api"} | json | unwrap ms | __error__="" [20s]))',
     CLEAN),
    ("clean-stream-label", 'sum by (level) (count_over_time({job="api"} | json | model="a" [10s]))',
     CLEAN),
    ("clean-min",
     'min by (model) (min_over_time({job="api"} | json | unwrap ms | __error__="" [30s]))',
     CLEAN),
]


def _evaluate(store: Store, query: str, grid: Grid) -> Any:
    try:
        out = evaluate(store, parse(query), grid, Stats())  # type: ignore[arg-type]
        assert isinstance(out, dict)
        # In the order the series were met; NaN (no sample) as None, to compare equal.
        return [(k, [None if x != x else x for x in v.tolist()]) for k, v in out.items()]
    except EvalError as exc:
        return str(exc)


@pytest.mark.parametrize("chunk_lines", [16384, 4], ids=["head", "sealed-chunks"])
@pytest.mark.parametrize(
    ("query", "streams"),
    [q[1:] for q in PROJECTION_QUERIES],
    ids=[q[0] for q in PROJECTION_QUERIES],
)
def test_projected_json_pipeline_agrees_with_the_full_one(
    tmp_path: Path, query: str, streams: Any, chunk_lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path for `sum by (...) (... | json ...)` gives exactly the full pipeline's
    answer (values, series and their order, or the same error), with lines in an unsealed
    head or in small sealed chunks, and again from its cached columns."""
    import labkit.standins.loki.chunks as ch
    import labkit.standins.loki.evaluator as ev

    monkeypatch.setattr(ch, "CHUNK_LINES", chunk_lines)
    grid = Grid.range(T0, T0 + 40 * S, 5 * S)
    fast_store = _store(tmp_path / "fast", streams)
    q = parse(query)
    agg = q if isinstance(q, syn.RangeAgg) else ev._push_down(q)  # type: ignore[arg-type]
    assert (
        ev.projected_pipeline(agg.query.stages, "count", agg.grouping)  # type: ignore[attr-defined]
        is not None
    )
    fast = _evaluate(fast_store, query, grid)
    assert _evaluate(fast_store, query, grid) == fast  # from the columns now cached
    monkeypatch.setattr(ev, "projected_pipeline", lambda *a: None)
    full = _evaluate(_store(tmp_path / "full", streams), query, grid)
    assert fast == full
