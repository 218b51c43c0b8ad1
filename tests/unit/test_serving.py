"""labkit.serving: capped bodies, bounded JSON and the loopback guard every server uses."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from labkit.serving import (
    BadBody,
    BodyTooLarge,
    LoopbackGuard,
    allowed_hosts,
    decompress,
    is_loopback,
    parse_json,
    read_body,
)


class FakeRequest:
    """A request whose body arrives in chunks, with whatever Content-Length it claims."""

    def __init__(self, chunks: list[bytes], length: str | None = None) -> None:
        self.chunks = chunks
        self.headers = {} if length is None else {"content-length": length}

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def read(request: FakeRequest, limit: int) -> bytes:
    return asyncio.run(read_body(request, limit))


def test_chunked_body_is_counted_not_trusted() -> None:
    """A body with no (or a lying) Content-Length is refused once its bytes pass the cap."""
    with pytest.raises(BodyTooLarge, match="larger than 10 bytes"):
        read(FakeRequest([b"12345", b"67890", b"1"]), 10)
    with pytest.raises(BodyTooLarge):
        read(FakeRequest([b"x" * 11], length="3"), 10)
    assert read(FakeRequest([b"12345", b"67890"]), 10) == b"1234567890"


def test_declared_length_over_the_cap_is_refused_before_reading() -> None:
    """An honest Content-Length over the cap (even absurdly long) is refused at once."""
    for length in ("11", "9" * 5000):
        with pytest.raises(BodyTooLarge):
            read(FakeRequest([], length=length), 10)


@pytest.mark.parametrize("encode,encoding", [
    (gzip.compress, "gzip"), (zlib.compress, "deflate"),
    (lambda b: zlib.compress(b)[2:-4], "deflate"),  # raw deflate, as some clients send it
], ids=["gzip", "zlib", "raw-deflate"])
def test_decompression_has_an_output_cap(encode, encoding: str) -> None:  # type: ignore[no-untyped-def]
    """A small compressed body that inflates past the cap is refused; one under it is kept."""
    bomb = encode(b"\0" * 1_000_000)
    assert len(bomb) < 5000
    with pytest.raises(BodyTooLarge, match="decompressed body"):
        decompress(bomb, encoding, 100_000)
    assert decompress(encode(b"hello"), encoding, 100) == b"hello"


def test_bad_or_unknown_encodings_are_a_clear_400() -> None:
    """Garbage, a truncated stream or an unsupported encoding say what was wrong."""
    with pytest.raises(BadBody, match="not valid gzip"):
        decompress(b"not gzip at all", "gzip", 100)
    with pytest.raises(BadBody, match="truncated"):
        decompress(gzip.compress(b"hello world" * 10)[:-12], "gzip", 1000)
    with pytest.raises(BadBody, match="unsupported Content-Encoding 'br'"):
        decompress(b"x", "br", 100)
    assert decompress(gzip.compress(b"a") + gzip.compress(b"b"), "gzip", 10) == b"ab"


@pytest.mark.parametrize("text,message", [
    (b"[" * 100 + b"]" * 100, "nests deeper than 64"),
    (b"[" * 5000 + b"]" * 5000, "JSON"),
    (b'{"n": 18446744073709551615}', "64-bit"),
    (b'{"x": NaN}', "not valid JSON"),
    (b'{"x": 1e999}', "not"),
    (b'{"a": 1', "not valid JSON"),
    (b'"\xff"', "not valid JSON"),
], ids=["deep", "very-deep", "big-int", "nan", "inf", "truncated", "bad-utf8"])
def test_json_that_no_request_needs_is_refused(text: bytes, message: str) -> None:
    """Deep nesting, out-of-range numbers and invalid JSON are BadBody, never a crash."""
    with pytest.raises(BadBody, match=message):
        parse_json(text)


def test_json_inside_the_bounds_parses() -> None:
    """The bounds are loose enough for real requests: int64 ends, 64 levels."""
    doc = parse_json(b'{"a": [9223372036854775807, -9223372036854775808, 1.5, true]}')
    assert doc == {"a": [2**63 - 1, -(2**63), 1.5, True]}
    assert parse_json(b"[" * 64 + b"]" * 64) is not None


def test_loopback_names() -> None:
    """Loopback names and addresses are recognised; others are not."""
    assert all(map(is_loopback, ["localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "10.0.0.1", "evil.example", "localhost.evil"]))
    assert allowed_hosts("0.0.0.0") is None
    assert allowed_hosts("0.0.0.0", ["gateway"]) == {"localhost", "127.0.0.1", "::1", "gateway"}


def _app(**guard: object) -> TestClient:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "DELETE"])])
    app.add_middleware(LoopbackGuard, **guard)  # type: ignore[arg-type]
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize("host,ok", [
    ("127.0.0.1:8000", True), ("localhost:8000", True), ("[::1]:8000", True),
    ("LOCALHOST", True), ("evil.example:8000", False), ("127.0.0.1.evil.example", False),
    ("", False),
], ids=lambda v: str(v))
def test_foreign_host_is_refused(host: str, ok: bool) -> None:
    """DNS rebinding: a request naming another host is refused with a 400 naming the rule."""
    client = _app(hosts=allowed_hosts("127.0.0.1"))
    r = client.get("/x", headers={"host": host})
    assert r.status_code == (200 if ok else 400)
    if not ok:
        assert "answers only to" in r.json()["error"]


@pytest.mark.parametrize("content_type,ok", [
    ("application/json", True), ("application/json; charset=utf-8", True),
    ("text/plain", False), ("application/x-www-form-urlencoded", False),
    ("multipart/form-data; boundary=x", False), (None, False),
], ids=lambda v: str(v))
def test_cross_site_simple_post_is_refused(content_type: str | None, ok: bool) -> None:
    """A POST a web page can send without a preflight (text/plain, forms) gets 415."""
    client = _app(hosts=allowed_hosts("127.0.0.1"))
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/x", content=b"{}", headers=headers)
    assert r.status_code == (200 if ok else 415)
    assert client.delete("/x").status_code == 200  # no body, and never a simple request


def test_admin_token() -> None:
    """With a token, /admin/* needs it; beyond loopback without one, /admin/* is off."""
    client = _app(hosts=None, admin_token="s3cret")
    assert client.get("/admin/faults").status_code == 401
    assert client.get("/admin/faults", headers={"authorization": "Bearer nope"}).status_code == 401
    ok = client.get("/admin/faults", headers={"authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert client.get("/health").status_code == 200
    off = _app(hosts=None, admin_required=True)
    assert off.get("/admin/faults").status_code == 403
    assert "LABKIT_ADMIN_TOKEN" in off.get("/admin/faults").json()["error"]
