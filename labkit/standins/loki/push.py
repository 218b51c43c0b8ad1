"""Decode bodies sent to /loki/api/v1/push: JSON, or snappy-compressed protobuf
(logproto.PushRequest, as Alloy and Promtail send it), optionally gzip-encoded.
"""

from __future__ import annotations

import functools
import gzip
import re
import zlib
from typing import Any

import cramjam
import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from labkit.standins.loki.store import PushError

PushedStreams = list[tuple[dict[str, str], list[tuple[int, str]]]]
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


@functools.cache
def push_request_class() -> Any:
    """logproto.PushRequest, built from a descriptor (wire-compatible with Loki's push.proto)."""
    f = descriptor_pb2.FileDescriptorProto(
        name="labkit_logproto_push.proto", package="logproto", syntax="proto3"
    )
    fdp = descriptor_pb2.FieldDescriptorProto

    def msg(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = type_name

    opt, rep = fdp.LABEL_OPTIONAL, fdp.LABEL_REPEATED
    msg(
        "Timestamp",
        [("seconds", 1, fdp.TYPE_INT64, opt, ""), ("nanos", 2, fdp.TYPE_INT32, opt, "")],
    )
    msg(
        "LabelPairAdapter",
        [("name", 1, fdp.TYPE_STRING, opt, ""), ("value", 2, fdp.TYPE_STRING, opt, "")],
    )
    msg(
        "EntryAdapter",
        [
            ("timestamp", 1, fdp.TYPE_MESSAGE, opt, ".logproto.Timestamp"),
            ("line", 2, fdp.TYPE_STRING, opt, ""),
            ("structuredMetadata", 3, fdp.TYPE_MESSAGE, rep, ".logproto.LabelPairAdapter"),
        ],
    )
    msg(
        "StreamAdapter",
        [
            ("labels", 1, fdp.TYPE_STRING, opt, ""),
            ("entries", 2, fdp.TYPE_MESSAGE, rep, ".logproto.EntryAdapter"),
            ("hash", 3, fdp.TYPE_UINT64, opt, ""),
        ],
    )
    msg("PushRequest", [("streams", 1, fdp.TYPE_MESSAGE, rep, ".logproto.StreamAdapter")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


def parse_labels(text: str) -> dict[str, str]:
    """``{a="b", c="d"}`` (a push request's label string) into a dict."""
    s = text.strip()
    if not (s.startswith("{") and s.endswith("}")):
        raise PushError(f'error parsing labels {text!r}: expected {{name="value", ...}}')
    body, pos, out = s[1:-1], 0, {}
    while pos < len(body.rstrip()):
        m = _LABEL_PAIR.match(body, pos)
        if not m:
            raise PushError(f"error parsing labels {text!r} at offset {pos + 1}")
        out[m.group(1)] = orjson.loads(f'"{m.group(2)}"') if "\\" in m.group(2) else m.group(2)
        pos = m.end()
    return out


def _timestamp(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise PushError(
            f"error parsing push request: invalid timestamp {raw!r} (want nanoseconds as a string)"
        ) from None


def decode_json(body: bytes) -> PushedStreams:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PushError(f"error parsing push request: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("streams", []), list):
        raise PushError('error parsing push request: want {"streams": [...]}')
    out: PushedStreams = []
    for st in doc.get("streams") or []:
        labels = st.get("stream") if isinstance(st, dict) else None
        values = st.get("values") if isinstance(st, dict) else None
        if not isinstance(labels, dict) or not isinstance(values, list):
            raise PushError(
                'error parsing push request: each stream needs "stream" {labels} '
                'and "values" [[ts, line], ...]'
            )
        entries = []
        for v in values:
            if not isinstance(v, list) or len(v) < 2 or not isinstance(v[1], str):
                raise PushError(
                    f'error parsing push request: invalid entry {v!r}, want ["<ns>", "line"]'
                )
            entries.append((_timestamp(v[0]), v[1]))
        out.append(({str(k): str(val) for k, val in labels.items()}, entries))
    return out


def decode_protobuf(body: bytes) -> PushedStreams:
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise PushError(f"error decompressing snappy push request: {exc}") from None
    req = push_request_class()()
    try:
        req.ParseFromString(raw)
    except Exception as exc:  # google.protobuf.message.DecodeError
        raise PushError(f"error parsing protobuf push request: {exc}") from None
    out: PushedStreams = []
    for st in req.streams:
        entries = [
            (e.timestamp.seconds * 1_000_000_000 + e.timestamp.nanos, e.line) for e in st.entries
        ]
        out.append((parse_labels(st.labels), entries))
    return out


def decode_push(body: bytes, content_type: str, content_encoding: str) -> PushedStreams:
    """Dispatch on the headers the way Loki does (protobuf unless the type says JSON)."""
    enc = content_encoding.lower().strip()
    try:
        if enc == "gzip":
            body = gzip.decompress(body)
        elif enc == "deflate":
            body = zlib.decompress(body)
        elif enc not in ("", "identity", "snappy"):
            raise PushError(
                f"unsupported Content-Encoding {content_encoding!r}: use gzip, deflate or none"
            )
    except (OSError, zlib.error, EOFError) as exc:
        raise PushError(f"error decompressing {enc} body: {exc}") from None
    if content_type.split(";")[0].strip().lower() == "application/json":
        return decode_json(body)
    return decode_protobuf(body)


def encode_protobuf(streams: PushedStreams) -> bytes:
    """A snappy-compressed PushRequest (what Promtail sends); used by tests and benchmarks."""
    req = push_request_class()()
    for labels, entries in streams:
        st = req.streams.add(
            labels="{"
            + ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in labels.items())
            + "}"
        )
        for ts, line in entries:
            e = st.entries.add(line=line)
            e.timestamp.seconds, e.timestamp.nanos = divmod(ts, 1_000_000_000)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
