"""The Loki stand-in as a real server: push (JSON, protobuf, gzip), query over HTTP, restart."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from labkit.errors import QueryParseError
from labkit.query.loki import Loki
from labkit.standins.loki.push import encode_protobuf
from tests.integration.loki_server import StandinServer

_Server = StandinServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    """A started stand-in over tmp_path/loki, stopped afterwards."""
    with _Server(tmp_path / "loki") as srv:
        yield srv


NOW = time.time_ns()


def _json_push(srv: _Server, labels: dict[str, str], lines: list[str], offset: int = 0,
               gzip_it: bool = False) -> httpx.Response:
    values = [[str(NOW - (len(lines) - i) * 10**9 + offset), line] for i, line in enumerate(lines)]
    body = orjson.dumps({"streams": [{"stream": labels, "values": values}]})
    headers = {"Content-Type": "application/json"}
    if gzip_it:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    return httpx.post(srv.url + "/loki/api/v1/push", content=body, headers=headers)


def test_push_json_protobuf_and_gzip_then_query(server: _Server) -> None:
    """All three push encodings land, and LogQL over HTTP sees them."""
    r = _json_push(server, {"job": "llm-api", "level": "info"}, ['{"model":"a","ms":5}'] * 3)
    assert r.status_code == 204
    r = _json_push(server, {"job": "llm-api", "level": "error"}, ['{"model":"b","ms":50}'],
                   gzip_it=True)
    assert r.status_code == 204
    proto = encode_protobuf(
        [({"job": "llm-api", "level": "warn"}, [(NOW - 500_000_000, '{"model":"a","ms":7}')])])
    r = httpx.post(server.url + "/loki/api/v1/push", content=proto,
                   headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 204
    with Loki(server.url) as loki:
        lines = loki.query_range('{job="llm-api"}', start=NOW / 1e9 - 60, end=NOW / 1e9 + 1)
        assert sorted(lines["level"]) == ["error", "info", "info", "info", "warn"]
        assert set(lines["model"]) == {"a", "b"}
        counts = loki.query('sum by (level) (count_over_time({job="llm-api"} | json [5m]))',
                            time=NOW / 1e9 + 1)
        by_level = dict(zip(counts["level"], counts["value"], strict=True))
        assert by_level == {"info": 3.0, "error": 1.0, "warn": 1.0}
        matrix = loki.query_range('sum(count_over_time({job="llm-api"}[10m]))',
                                  start=NOW / 1e9 - 60, end=NOW / 1e9 + 60, step=60)
        assert matrix["value"].max() == 5.0
        assert loki.labels(start=NOW / 1e9 - 60) == ["job", "level"]
        assert loki.label_values("level", start=NOW / 1e9 - 60) == ["error", "info", "warn"]
        assert len(loki.series('{level=~"e.+"}')) == 1


def test_duplicates_are_stored_once_and_data_survives_restart(server: _Server) -> None:
    """A resent batch adds nothing, and everything is still there after a restart."""
    lines = [f"line {i}" for i in range(5)]
    for _ in range(2):
        assert _json_push(server, {"job": "shipper"}, lines).status_code == 204
    query = {"query": '{job="shipper"}', "start": str(NOW - 3600 * 10**9), "end": str(NOW + 10**9),
             "limit": "100"}

    def stored() -> list[str]:
        body = httpx.get(server.url + "/loki/api/v1/query_range", params=query).json()
        return sorted(v[1] for s in body["data"]["result"] for v in s["values"])

    assert stored() == lines
    server.stop()
    server.start()
    assert stored() == lines
    assert _json_push(server, {"job": "shipper"}, lines).status_code == 204
    assert stored() == lines


@pytest.mark.parametrize(("path", "params", "fragment"), [
    ("/loki/api/v1/query_range", {"query": '{job="a"'}, "parse error at line 1, col 9"),
    ("/loki/api/v1/query_range", {"query": 'rate_counter({job="a"} | unwrap x [1m])'},
     "does not support `rate_counter`"),
    ("/loki/api/v1/query", {"query": '{job="a"}'},
     "log queries are not supported as an instant query type"),
    ("/loki/api/v1/query_range", {"query": '{job="a"}', "limit": "-1"},
     "limit must be a positive value"),
    ("/loki/api/v1/query_range", {"query": 'rate({job="a"}[1m])', "step": "0"},
     "zero or negative query resolution step"),
    ("/loki/api/v1/query_range", {"query": '{job="a"}', "start": "yesterday"},
     'invalid start "yesterday"'),
], ids=["syntax", "unsupported", "instant-log-query", "limit", "step", "time"])
def test_bad_requests_get_400_with_lokis_text(server: _Server, path: str, params: dict[str, str],
                                              fragment: str) -> None:
    """Malformed queries and parameters are answered 400 with a plain-text reason."""
    r = httpx.get(server.url + path, params=params)
    assert r.status_code == 400 and fragment in r.text


def test_bad_push_gets_400(server: _Server) -> None:
    """A push with no labels, or a body that is not a push request, is refused with 400."""
    r = httpx.post(server.url + "/loki/api/v1/push",
                   json={"streams": [{"stream": {}, "values": [["1", "x"]]}]})
    assert r.status_code == 400 and "at least one label" in r.text
    r = httpx.post(server.url + "/loki/api/v1/push", content=b"garbage",
                   headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400


def test_client_raises_parse_error(server: _Server) -> None:
    """The client turns the stand-in's 400 into QueryParseError carrying the position."""
    with Loki(server.url) as loki, pytest.raises(QueryParseError, match="col 9"):
        loki.query_range('{job="a"')


def test_post_form_queries_and_client_push(server: _Server) -> None:
    """Queries may be POSTed as a form; Loki.push sends lines that queries then see."""
    with Loki(server.url) as loki:
        assert loki.push([{"msg": "hi", "n": 1}, "plain"], {"job": "nb"}) == 2
    r = httpx.post(server.url + "/loki/api/v1/query_range",
                   data={"query": '{job="nb"} | json | __error__=""', "start": str(NOW - 10**9)})
    assert r.status_code == 200
    result = r.json()["data"]["result"]
    assert [s["stream"].get("msg") for s in result] == ["hi"]
