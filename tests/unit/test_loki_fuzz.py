"""Property tests: no LogQL query, template or push body makes the stand-in answer 5xx.

Queries are drawn from a grammar of LogQL pieces (so most parse and reach the evaluator)
and from mutations of them (so the parser's refusals are exercised too); push bodies from
arbitrary JSON shaped like a push request, arbitrary bytes, and protobuf messages with
arbitrary label strings. Every answer must be below 500 and the server must keep serving.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import cramjam
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from labkit.standins.loki.app import create_app
from labkit.standins.loki.guard import LOOPBACK_NAMES
from labkit.standins.loki.parser import LogQLParseError, parse
from labkit.standins.loki.push import push_request_class
from labkit.standins.loki.templates import TemplateError, TemplateExecError, parse_template

NOW = time.time_ns()
FUZZ = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
LINES = [
    '{"n": 3, "msg": "GET /a 200", "ip": "10.0.0.7", "d": "1.5s", "nested": {"x": [1, 2]}}',
    "level=error n=7 msg=\"boom\" ip=192.168.1.1 d=250ms",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
    "2001:db8::1 - - [01/Jan/2026] \"POST /b HTTP/1.1\" 500 12",
    "\x1b[31mred\x1b[0m plain é ünïcode",
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(tmp_path_factory.mktemp("fuzz"), allowed_hosts=LOOPBACK_NAMES)
    with TestClient(app, base_url="http://127.0.0.1:3100") as c:
        body = orjson.dumps({"streams": [
            {"stream": {"job": job, "level": lvl},
             "values": [[str(NOW - (i + 1) * 10**9), ln] for i, ln in enumerate(LINES)]}
            for job in ("x", "y") for lvl in ("info", "error")]})
        assert c.post("/loki/api/v1/push", content=body,
                      headers={"Content-Type": "application/json"}).status_code == 204
        yield c


SELECTORS = st.sampled_from(['{job="x"}', '{job=~"x|y"}', '{job="x", level!="debug"}',
                             '{job=~".+", level=~"e.*"}'])
STAGES = st.sampled_from([
    '|= "a"', '!= "GET"', '|~ "(a+)+$"', '!~ "x|y"', '|> "<_> /a <_>"', '!> "<_>!"',
    '|= ip("10.0.0.0/8")', '!= ip("2001:db8::/32")', "| json", '| json m="msg", z="nested.x[1]"',
    "| logfmt", '| pattern "<a> <_> <c>"', '| regexp "(?P<num>\\\\d+)"',
    "| line_format `{{ .n | int | add 1 }} {{ __line__ | trunc 4 }}`",
    '| label_format m=`{{ div .n 2 }}`, k=n', "| n > 2", '| ip = ip("10.0.0.0/24")',
    "| d > 1s", '| n != 3 or level="error"', "| drop n", "| keep job, level", "| decolorize",
    '| __error__=""', '| line_format "{{ if eq .level \\"error\\" }}E{{ else }}-{{ end }}"',
])
LOG = st.builds(lambda s, xs: " ".join([s, *xs]), SELECTORS, st.lists(STAGES, max_size=4))
RANGE = st.sampled_from(["[1m]", "[30s]", "[1h] offset 1m", "[10m]"])
RANGE_AGG = st.one_of(
    st.builds(lambda f, q, r: f"{f}({q} {r})",
              st.sampled_from(["count_over_time", "rate", "bytes_over_time", "bytes_rate",
                               "absent_over_time"]), LOG, RANGE),
    st.builds(lambda f, q, r: f"{f}(({q})[5m])",
              st.sampled_from(["count_over_time", "rate"]), LOG, RANGE),
    st.builds(lambda f, q, r: f"{f}({q} | json | unwrap n {r})",
              st.sampled_from(["sum_over_time", "avg_over_time", "max_over_time",
                               "quantile_over_time(0.9,", "stddev_over_time"]), SELECTORS,
              RANGE).map(lambda s: s.replace("(0.9,(", "(0.9, ")),
)


def _binop(a: str, b: str, op: str, mod: str) -> str:
    return f"({a}) {op} {mod} ({b})"


METRIC = st.recursive(
    st.one_of(RANGE_AGG, st.just("vector(1)"), st.sampled_from(["1", "2.5", "-3"])),
    lambda inner: st.one_of(
        st.builds(lambda op, g, e: f"{op} {g} ({e})",
                  st.sampled_from(["sum", "avg", "max", "min", "count", "stddev", "stdvar"]),
                  st.sampled_from(["", "by (job)", "without (level)", "by (level, n)"]), inner),
        st.builds(lambda op, k, e: f"{op}({k}, {e})",
                  st.sampled_from(["topk", "bottomk", "approx_topk"]),
                  st.sampled_from(["1", "2", "0"]), inner),
        st.builds(_binop, inner, inner,
                  st.sampled_from(["+", "-", "*", "/", "%", "^", "==", ">", "<=", "and", "or",
                                   "unless"]),
                  st.sampled_from(["", "bool", "on(job)", "ignoring(level)",
                                   "on(job) group_left(level)", "ignoring(n) group_right"])),
        st.builds(lambda e, r: f'label_replace({e}, "dst", "$1", "job", "{r}")', inner,
                  st.sampled_from(["(.*)", "x(.)?", "(", "(?=x)"])),
    ),
    max_leaves=4,
)


def _mutate(q: str, data: st.DataObject) -> str:
    pos = data.draw(st.integers(0, len(q)))
    cut = data.draw(st.integers(0, 3))
    junk = data.draw(st.text(alphabet='{}()[]|=!~"`<>,.$\\ ab0', max_size=3))
    return q[:pos] + junk + q[pos + cut:]


def _query(client: TestClient, q: str) -> None:
    for path, params in (("/loki/api/v1/query_range",
                          {"query": q, "start": str(NOW - 3600 * 10**9), "end": str(NOW),
                           "step": "60"}),
                         ("/loki/api/v1/query", {"query": q, "time": str(NOW)})):
        r = client.get(path, params=params)
        assert r.status_code < 500, (q, r.status_code, r.text)
        if r.status_code != 200:
            assert r.text, q  # a refusal says why


@FUZZ
@given(q=st.one_of(LOG, METRIC))
def test_generated_queries_never_give_5xx(client: TestClient, q: str) -> None:
    """Queries built from LogQL's pieces are answered or refused with a reason, never 5xx."""
    _query(client, q)


@FUZZ
@given(q=st.one_of(LOG, METRIC), data=st.data())
def test_mutated_queries_never_give_5xx(client: TestClient, q: str, data: st.DataObject) -> None:
    """Broken queries (a valid one with characters cut and inserted) are 400s, never 5xx."""
    _query(client, _mutate(q, data))


@settings(max_examples=150, deadline=None)
@given(q=st.text(max_size=60))
def test_the_parser_only_raises_its_own_error(q: str) -> None:
    """Any text either parses or raises LogQLParseError with a Loki-style message."""
    try:
        parse(q)
    except LogQLParseError as exc:
        assert str(exc).startswith("parse error")


TEMPLATE_BITS = st.sampled_from([
    "{{", "}}", "{{-", "-}}", " .n ", " .m.x ", " $x := 1 ", " $x ", " | ", " upper ", " add ",
    " div ", " printf ", '"%d"', " 3 ", " 0 ", " if ", " else ", " end ", " range ", " with ",
    " fromJson ", " __line__ ", " __timestamp__ ", " date ", '"2006"', " (", ") ", " eq ",
    " repeat ", " 1000 ", " default ", " regexReplaceAll ", '"(a+)+"', " count ", "text",
    " unixToTime ", '"-999999999999"', '"9999999999999999999"', " toDate ", " unixEpoch ",
    " now ", " 99999999999999 ", " divf ", " round ", " 1e308 ",
])


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(TEMPLATE_BITS, max_size=12))
def test_templates_fail_only_with_their_own_errors(parts: list[str]) -> None:
    """A template compiles or raises TemplateError; rendering gives text or TemplateExecError."""
    source = "".join(parts)
    try:
        t = parse_template(source)
    except TemplateError:
        return
    try:
        out = t.render({"n": "7", "m": "x"}, '{"a": [1]}', NOW)
    except TemplateExecError:
        return
    assert isinstance(out, str)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)
ENTRY = st.one_of(
    st.tuples(st.integers(-2**64, 2**64).map(str), st.text(max_size=20)).map(list),
    st.lists(JSON, max_size=4),
    JSON,
)
PUSH_DOC = st.one_of(
    st.fixed_dictionaries({"streams": st.lists(st.fixed_dictionaries({
        "stream": st.one_of(st.dictionaries(st.text(max_size=6), st.text(max_size=6),
                                            max_size=3), JSON),
        "values": st.one_of(st.lists(ENTRY, max_size=4), JSON),
    }), max_size=3)}),
    JSON,
)


def _post(client: TestClient, body: bytes, ctype: str, enc: str = "") -> int:
    headers = {"Content-Type": ctype}
    if enc:
        headers["Content-Encoding"] = enc
    return client.post("/loki/api/v1/push", content=body, headers=headers).status_code


@FUZZ
@given(doc=PUSH_DOC)
def test_json_pushes_never_give_5xx(client: TestClient, doc: object) -> None:
    """Any JSON document pushed is stored (204) or refused with 400, never 5xx."""
    assert _post(client, json.dumps(doc).encode(), "application/json") in (204, 400)


@FUZZ
@given(body=st.binary(max_size=200),
       ctype=st.sampled_from(["application/json", "application/x-protobuf"]),
       enc=st.sampled_from(["", "gzip", "deflate", "snappy", "br"]))
def test_arbitrary_bytes_never_give_5xx(client: TestClient, body: bytes, ctype: str,
                                        enc: str) -> None:
    """Garbage bodies under every encoding are 400s (or 413s), never 5xx."""
    assert _post(client, body, ctype, enc) in (204, 400, 413)


@FUZZ
@given(labels=st.text(max_size=30), lines=st.lists(st.text(max_size=20), max_size=3),
       secs=st.integers(-2**63, 2**63 - 1), nanos=st.integers(-2**31, 2**31 - 1))
def test_protobuf_pushes_never_give_5xx(client: TestClient, labels: str, lines: list[str],
                                        secs: int, nanos: int) -> None:
    """Well-formed protobuf with any label text, line and time is 204 or 400, never 5xx."""
    req = push_request_class()()
    st_ = req.streams.add(labels=labels)
    for line in lines:
        e = st_.entries.add(line=line)
        e.timestamp.seconds, e.timestamp.nanos = secs, nanos
    body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    assert _post(client, body, "application/x-protobuf") in (204, 400)


def test_still_serving_after_the_fuzzing(client: TestClient, tmp_path: Path) -> None:
    """After every fuzzer above, the same server still answers."""
    assert client.get("/ready").text == "ready"


PARAM = st.one_of(
    st.text(max_size=12),
    st.integers(-2**100, 2**100).map(str),
    st.sampled_from([str(2**63), str(-2**63 - 1), str(2**80), "1e400", "-1e400", "1.5e300"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["now", "1h", "-5m", "2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "0001-01-01T00:00:00+14:00", "1e308", "nan", "inf", "0", "-1"]),
)


@FUZZ
@given(params=st.dictionaries(
    st.sampled_from(["time", "start", "end", "step", "limit", "direction", "since"]), PARAM))
def test_query_parameters_never_give_5xx(client: TestClient, params: dict[str, str]) -> None:
    """Times, steps and limits outside every sensible range are 400s, never 5xx."""
    for path, query in (("/loki/api/v1/query_range", 'rate({job="x"}[1m])'),
                        ("/loki/api/v1/query_range", '{job="x"}'),
                        ("/loki/api/v1/query", 'sum(count_over_time({job="x"}[5m]))'),
                        ("/loki/api/v1/labels", None), ("/loki/api/v1/series", '{job="x"}')):
        args = {**params, **({"query": query, "match[]": query} if query else {})}
        r = client.get(path, params=args)
        assert r.status_code < 500, (path, args, r.status_code, r.text)
