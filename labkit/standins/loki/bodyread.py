"""Read a push body as a stream, with a cap on the bytes sent and on what they inflate to.

A few kilobytes of gzip can inflate to gigabytes, so the body is never read whole before
it is checked, and it is decompressed in pieces with a limit on the output: past either
cap the request is refused with 413, before memory is spent on it. Snappy bodies (the
protobuf push) carry their decompressed length up front, which is checked the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import cramjam

MAX_BODY_BYTES = 16 << 20  # what a client may send (a shipper's batch is far smaller)
MAX_DECODED_BYTES = 128 << 20  # what that may inflate to


class BodyTooLarge(ValueError):
    """The body, or what it decompresses to, is over its cap (answered with 413)."""


class BadEncoding(ValueError):
    """The body cannot be decompressed as its Content-Encoding says (answered with 400)."""


async def read_capped(stream: AsyncIterator[bytes], declared: str | None,
                      limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refusing it as soon as it passes ``limit`` bytes."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(
            f"request body too large: {declared} bytes, limit: {limit} bytes; "
            "send smaller batches"
        )
    parts, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(
                f"request body too large: more than {limit} bytes, limit: {limit} bytes; "
                "send smaller batches"
            )
        parts.append(chunk)
    return b"".join(parts)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"decompressed request body too large: more than {limit} bytes, limit: {limit} "
        "bytes; send smaller batches"
    )


def inflate(body: bytes, encoding: str, limit: int = MAX_DECODED_BYTES) -> bytes:
    """Undo ``Content-Encoding`` gzip or deflate (zlib or raw), producing at most ``limit``."""
    enc = encoding.lower().strip()
    if enc in ("", "identity", "snappy"):
        return body
    if enc not in ("gzip", "deflate"):
        raise BadEncoding(
            f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none"
        )
    if enc == "gzip":
        wbits_options = [31]
    else:  # HTTP "deflate" is zlib-wrapped, but raw deflate is common enough to accept
        wbits_options = [15, -15]
    last_error: Exception | None = None
    for wbits in wbits_options:
        try:
            return _inflate(body, wbits, limit)
        except zlib.error as exc:
            last_error = exc
    raise BadEncoding(f"error decompressing {enc} body: {last_error}")


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    out: list[bytes] = []
    size = 0
    data = body
    while True:  # gzip bodies may hold several members one after another
        d = zlib.decompressobj(wbits)
        while data:
            piece = d.decompress(data, limit + 1 - size)
            size += len(piece)
            if size > limit:
                raise _too_large(limit)
            out.append(piece)
            data = d.unconsumed_tail
        tail = d.flush(limit + 1 - size)
        size += len(tail)
        if size > limit:
            raise _too_large(limit)
        out.append(tail)
        if not d.eof:
            raise zlib.error("unexpected end of compressed data")
        data = d.unused_data
        if not data or wbits != 31:
            return b"".join(out)


def snappy_decoded_length(body: bytes) -> int:
    """The uncompressed length a raw snappy block announces (its leading varint)."""
    length, shift = 0, 0
    for i, b in enumerate(body[:10]):
        length |= (b & 0x7F) << shift
        if b < 0x80:
            return length
        shift += 7
        if i == 9:
            break
    raise BadEncoding("error decompressing snappy push request: bad length header")


def unsnappy(body: bytes, limit: int = MAX_DECODED_BYTES) -> bytes:
    """Raw snappy, refused with 413 before decompressing when it announces more than limit."""
    if snappy_decoded_length(body) > limit:
        raise _too_large(limit)
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise BadEncoding(f"error decompressing snappy push request: {exc}") from None
