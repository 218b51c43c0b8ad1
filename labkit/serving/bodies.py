"""Request bodies: read with a byte cap, decompressed with an output cap, parsed as bounded JSON.

A server must not trust ``Content-Length`` (a chunked body has none, and a client
may lie), nor a compressed body's size (a few KiB of gzip inflate to gigabytes),
nor JSON's shape (deep nesting exhausts the recursion limit; an integer with
thousands of digits is no count of anything). Every failure here is a
:class:`BadBody` whose message says what was wrong, so the server answers 400
(or 413 for :class:`BodyTooLarge`) instead of 500.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import orjson

__all__ = ["MAX_JSON_DEPTH", "BadBody", "BodyTooLarge", "decompress", "parse_json", "read_body"]

MAX_JSON_DEPTH = 64  # no request labkit serves nests deeper than ~8
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class BadBody(ValueError):
    """A body that cannot be used; the message says what was wrong (HTTP 400)."""

    status = 400


class BodyTooLarge(BadBody):
    """A body, or what it decompresses to, over the server's cap (HTTP 413)."""

    status = 413

    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(f"{what} is larger than {limit} bytes; send less (smaller batches)")
        self.limit = limit


class StreamingRequest(Protocol):
    """What :func:`read_body` needs of a request (Starlette's ``Request`` has it)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


async def read_body(request: StreamingRequest, limit: int) -> bytes:
    """The body, counted chunk by chunk as it arrives; :class:`BodyTooLarge` past ``limit``."""
    declared = request.headers.get("content-length", "")
    # An early refusal for an honest client; the count below is what decides.
    if declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise BodyTooLarge(limit)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise BodyTooLarge(limit)
    return bytes(buf)


def decompress(data: bytes, encoding: str | None, limit: int,
               accept: tuple[str, ...] = ("gzip", "deflate")) -> bytes:
    """Undo ``Content-Encoding`` (gzip or deflate), producing at most ``limit`` bytes."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return data
    if enc not in accept:
        raise BadBody(f"unsupported Content-Encoding {enc!r}: send {' or '.join(accept)} "
                      "or no encoding")
    # gzip: a gzip header; deflate: HTTP means the zlib format, some clients send raw deflate.
    tries = (16 + zlib.MAX_WBITS,) if enc == "gzip" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    error: zlib.error | None = None
    for wbits in tries:
        try:
            return _inflate(data, wbits, limit, enc)
        except zlib.error as exc:
            error = error or exc
    raise BadBody(f"body is not valid {enc}: {error}")


def _inflate(data: bytes, wbits: int, limit: int, enc: str) -> bytes:
    out = bytearray()
    rest = data
    while rest:  # a gzip body may hold several members, one after another
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(rest, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(limit, "decompressed body")
        if not inflater.eof:
            raise BadBody(f"{enc} body is truncated")
        rest = inflater.unused_data if wbits > 16 else b""
    return bytes(out)


def parse_json(raw: bytes | str, *, what: str = "body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON text as Python values, refusing what no labkit request needs.

    Refused with :class:`BadBody`: invalid JSON or UTF-8, ``NaN``/``Infinity``,
    nesting deeper than ``max_depth``, integers outside int64, non-finite floats.
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"{what} is not valid JSON: {exc}") from None
    _check_shape(doc, what, max_depth)
    return doc


def _check_shape(doc: Any, what: str, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise BadBody(f"{what} nests deeper than {max_depth} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children
                         if isinstance(child, dict | list | int | float))
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int) and not INT64_MIN <= node <= INT64_MAX:
            raise BadBody(f"{what} holds an integer outside the 64-bit range: {str(node)[:40]}")
        elif isinstance(node, float) and not math.isfinite(node):
            raise BadBody(f"{what} holds a number that is not finite")
