"""The stand-in's HTTP edge: body and decompression caps (413), strict JSON (400, never 500),
query limits with Loki's refusals, and what a web page cannot make it do."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import cramjam
import orjson
import pytest
from starlette.testclient import TestClient

from labkit.standins.loki import bodyread
from labkit.standins.loki.app import create_app
from labkit.standins.loki.guard import LOOPBACK_NAMES
from labkit.standins.loki.limits import QueryLimits

URL = "http://127.0.0.1:3100"
NOW = time.time_ns()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(tmp_path, allowed_hosts=LOOPBACK_NAMES)
    with TestClient(app, base_url=URL) as c:
        yield c


def _push(client: TestClient, body: bytes, ctype: str = "application/json",
          **headers: str) -> tuple[int, str]:
    r = client.post("/loki/api/v1/push", content=body,
                    headers={"Content-Type": ctype, **headers})
    return r.status_code, r.text


def _body(*entries: list[object], labels: object = None) -> bytes:
    return orjson.dumps({"streams": [{"stream": labels or {"job": "x"}, "values": list(entries)}]})


def test_a_zip_bomb_is_refused_with_413(client: TestClient,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A small gzip body that inflates past the cap is refused before it is inflated whole."""
    monkeypatch.setattr(bodyread, "MAX_DECODED_BYTES", 1 << 20)
    monkeypatch.setattr(bodyread.inflate, "__defaults__", (1 << 20,))
    bomb = gzip.compress(b"\0" * (8 << 20))
    assert len(bomb) < 20_000
    status, text = _push(client, bomb, **{"Content-Encoding": "gzip"})
    assert status == 413 and "decompressed request body too large" in text


def test_snappy_announcing_too_much_is_refused_with_413(client: TestClient) -> None:
    """A snappy block whose header announces more than the cap is refused unread."""
    fake = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) + b"\0" * 10  # announces 4 GiB
    status, text = _push(client, fake, "application/x-protobuf")
    assert status == 413 and "too large" in text


def test_a_body_over_the_byte_cap_is_refused_with_413(client: TestClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The body is read as a stream and refused once it passes the cap."""
    monkeypatch.setattr(bodyread.read_capped, "__defaults__", (1000,))
    status, text = _push(client, _body(["1", "x" * 5000]))
    assert status == 413 and "request body too large" in text


def test_deflate_and_gzip_bodies_are_accepted(client: TestClient) -> None:
    """Both HTTP encodings still work under the caps."""
    raw = _body([str(NOW), "a"])
    assert _push(client, gzip.compress(raw), **{"Content-Encoding": "gzip"})[0] == 204
    assert _push(client, zlib.compress(raw), **{"Content-Encoding": "deflate"})[0] == 204


@pytest.mark.parametrize(("body", "fragment"), [
    (_body([1700000000000000000, "line"]), "Value is string, but can't find closing"),
    (_body(["1700000000000000000", 42]), "the log line must be a string"),
    (_body(["99999999999999999999", "l"]), "Value is number, but overflowed while parsing"),
    (_body(["12abc", "l"]), "is not an integer"),
    (_body(["1", "l", [1]]), "Value looks like object"),
    (_body(["1", "l"], labels={"job": 1}), "must have a string value"),
    (b'{"streams":[{"stream":{"job":"x"},"values":' + b"[" * 5000 + b"]" * 5000 + b"}]}",
     "error parsing push request"),
    (b'{"streams": [1e999999]}', "error parsing push request"),
    (b"\xff\xfe", "error parsing push request"),
    (b'{"streams": {"a": 1}}', 'want {"streams": [...]}'),
], ids=["number-timestamp", "number-line", "timestamp-overflow", "bad-digits",
        "metadata-not-object", "label-not-string", "deep-nesting", "huge-number",
        "not-utf8", "streams-not-list"])
def test_bad_json_pushes_get_400_with_the_reason(client: TestClient, body: bytes,
                                                 fragment: str) -> None:
    """A JSON push that Loki's decoder refuses is a 400 saying why, never a 500."""
    status, text = _push(client, body)
    assert status == 400 and fragment in text


def test_partial_push_answers_400_and_stores_the_valid_entries(client: TestClient) -> None:
    """Valid entries of a push with a bad one are stored; the 400 names the bad one."""
    body = _body([str(NOW - 2000), "good"], [str(NOW + 3600 * 10**9), "future"])
    status, text = _push(client, body)
    assert status == 400 and "has timestamp too new" in text
    assert "ignored, reason: 'entry for stream" in text
    assert text.endswith("total ignored: 1 out of 2 for stream: {job=\"x\"}")
    r = client.get("/loki/api/v1/query_range",
                   params={"query": '{job="x"}', "start": str(NOW - 10**10), "end": str(NOW)})
    assert [v[1] for s in r.json()["data"]["result"] for v in s["values"]] == ["good"]


@pytest.mark.parametrize(("ctype", "status"), [
    ("text/plain", 415), ("application/x-www-form-urlencoded", 415), ("", 415),
    ("multipart/form-data; boundary=x", 415), ("application/json; charset=utf-8", 204),
], ids=["text-plain", "form", "none", "multipart", "json-with-charset"])
def test_push_needs_a_json_or_protobuf_content_type(client: TestClient, ctype: str,
                                                    status: int) -> None:
    """A cross-site "simple" POST (text/plain, form) cannot push: only JSON or protobuf."""
    r = client.post("/loki/api/v1/push", content=_body([str(NOW), "x"]),
                    headers={"Content-Type": ctype} if ctype else {})
    assert r.status_code == status


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:3100", True), ("localhost:3100", True), ("[::1]:3100", True),
    ("evil.example:3100", False), ("127.0.0.1.evil.example:3100", False),
    ("localhost:9999", False), ("", False),
], ids=["ipv4", "localhost", "ipv6", "rebinding", "suffix-trick", "other-port", "missing"])
def test_foreign_host_headers_are_refused(client: TestClient, host: str, ok: bool) -> None:
    """A request whose Host is not the server's own name (DNS rebinding) is refused, reads too."""
    r = client.get("/loki/api/v1/labels", headers={"Host": host})
    assert (r.status_code == 200) == ok
    if not ok:
        assert r.status_code == 403 and "DNS rebinding" in r.text


def test_a_foreign_origin_cannot_push(client: TestClient) -> None:
    """A push carrying another site's Origin is refused even with a JSON body."""
    status, text = _push(client, _body([str(NOW), "x"]), Origin="https://evil.example")
    assert status == 403 and "cross-origin" in text


@pytest.mark.parametrize(("params", "fragment"), [
    ({"query": '{job="x"}', "limit": "5001"},
     "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)"),
    ({"query": '{job="x"}', "start": "0", "end": str(744 * 3600 * 10**9)},
     "the query time range exceeds the limit (query length: 744h0m0s, limit: 721h0m0s)"),
    ({"query": 'approx_topk(1, rate({job="x"}[1m]))'},
     "count min sketches are only supported on instant queries"),
], ids=["limit", "range", "approx-topk-range"])
def test_query_limits_are_refused_like_loki(client: TestClient, params: dict[str, str],
                                            fragment: str) -> None:
    """Over Loki's default limits a query gets Loki's 400."""
    r = client.get("/loki/api/v1/query_range", params=params)
    assert r.status_code == 400 and fragment in r.text


def test_series_limit(tmp_path: Path) -> None:
    """A metric result over max_query_series is refused; aggregating it passes."""
    app = create_app(tmp_path, limits=QueryLimits(max_series=3))
    with TestClient(app, base_url=URL) as c:
        body = orjson.dumps({"streams": [{"stream": {"job": "x", "n": str(i)},
                                          "values": [[str(NOW - 10**9), "l"]]}
                                         for i in range(5)]})
        assert _push(c, body)[0] == 204
        q = {"query": 'count_over_time({job="x"}[1m])', "time": str(NOW)}
        r = c.get("/loki/api/v1/query", params=q)
        assert r.status_code == 400 and "maximum number of series (3) reached" in r.text
        q["query"] = f"sum({q['query']})"
        assert c.get("/loki/api/v1/query", params=q).json()["data"]["result"][0]["value"][1] == "5"


def test_a_query_past_its_budget_is_a_504(tmp_path: Path) -> None:
    """A query that runs out of time stops and answers Loki's 504 text."""
    app = create_app(tmp_path, limits=QueryLimits(timeout_s=0.0))
    with TestClient(app, base_url=URL) as c:
        body = orjson.dumps({"streams": [{"stream": {"job": "x"},
                                          "values": [[str(NOW - 10**9 + i), "l"]
                                                     for i in range(3000)]}]})
        assert _push(c, body)[0] == 204
        r = c.get("/loki/api/v1/query_range", params={"query": '{job="x"} |~ "l+"',
                                                      "start": str(NOW - 10**10)})
        assert r.status_code == 504 and "request timed out" in r.text


def test_protobuf_with_a_bad_label_string_is_a_400(client: TestClient) -> None:
    """A protobuf stream whose label text does not parse is refused with a message."""
    from labkit.standins.loki.push import push_request_class

    req = push_request_class()()
    st = req.streams.add(labels='{job="x", bad="\\q"}')
    e = st.entries.add(line="l")
    e.timestamp.seconds = NOW // 10**9
    body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    status, text = _push(client, body, "application/x-protobuf")
    assert status == 400 and "error parsing labels" in text
