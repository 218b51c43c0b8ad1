"""Decode bodies sent to /loki/api/v1/push: JSON, or snappy-compressed protobuf
(logproto.PushRequest, as Alloy and Promtail send it), optionally gzip/deflate-encoded,
with size caps on every decompression (``bodyread``).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import cramjam
import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from labkit.standins.loki.bodyread import BadEncoding, inflate, unsnappy
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


class InvalidLabels(dict[str, str]):
    """A pushed stream whose label string does not parse: rejected on its own (Loki keeps
    the other streams of the push)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


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
        value = m.group(2)
        if "\\" in value:
            try:
                value = orjson.loads(f'"{value}"')
            except orjson.JSONDecodeError as exc:
                raise PushError(f"error parsing labels {text!r}: {exc}") from None
        out[m.group(1)] = value
        pos = m.end()
    return out


# buger/jsonparser's errors, which Loki's JSON push decoder returns as they are
_MALFORMED_STRING = "Value is string, but can't find closing '\"' symbol"
_MALFORMED_OBJECT = "Value looks like object, but can't find closing '}' symbol"
_MALFORMED_VALUE = "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol"
_OVERFLOW = "Value is number, but overflowed while parsing"
_INT64 = 2**63


def _refuse(loki_text: str, where: str, hint: str) -> PushError:
    return PushError(f"{loki_text} ({where}: {hint})")


def _json_entry(v: Any, where: str) -> tuple[int, str]:
    if not isinstance(v, list) or len(v) < 2:
        raise PushError(
            f'error parsing push request: {where}: want ["<ns>", "line"], got {v!r:.80}'
        )
    ts, line = v[0], v[1]
    if not isinstance(ts, str):
        raise _refuse(_MALFORMED_STRING, where,
                      'the timestamp must be a string of nanoseconds, e.g. "1700000000000000000"')
    if not isinstance(line, str):
        raise _refuse(_MALFORMED_STRING, where, "the log line must be a string")
    if len(v) > 2 and not (isinstance(v[2], dict)
                           and all(isinstance(x, str) for x in v[2].values())):
        raise _refuse(_MALFORMED_OBJECT, where,
                      "structured metadata must be an object of string values")
    digits = ts[1:] if ts[:1] == "-" else ts
    if not digits.isdigit() or not digits.isascii():
        raise _refuse(_MALFORMED_VALUE, where, f"timestamp {ts!r:.40} is not an integer")
    n = int(ts)
    if not -_INT64 <= n < _INT64:
        raise _refuse(_OVERFLOW, where, f"timestamp {ts:.40} is outside int64 nanoseconds")
    return n, line


def decode_json(body: bytes) -> PushedStreams:
    """Loki's JSON push body, decoded as strictly as Loki's decoder (strings for times and
    lines, string label values); anything else is a 400 naming the entry."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PushError(f"error parsing push request: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("streams", []), list):
        raise PushError('error parsing push request: want {"streams": [...]}')
    out: PushedStreams = []
    for i, st in enumerate(doc.get("streams") or []):
        labels = st.get("stream") if isinstance(st, dict) else None
        values = st.get("values") if isinstance(st, dict) else None
        if not isinstance(labels, dict) or not isinstance(values, list):
            raise PushError(
                'error parsing push request: each stream needs "stream" {labels} '
                'and "values" [[ts, line], ...]'
            )
        bad = next((k for k, x in labels.items() if not isinstance(x, str)), None)
        if bad is not None:
            raise PushError(
                f"error parsing push request: stream {i}: label {bad!r:.60} must have a "
                f"string value, got {labels[bad]!r:.40}"
            )
        if all(type(v) is list and len(v) == 2 and type(v[0]) is str and type(v[1]) is str
               and v[0].isdigit() and v[0].isascii()
               and (len(v[0]) < 19 or (len(v[0]) == 19 and v[0] < "9223372036854775808"))
               for v in values):  # the common shape, checked at C speed
            entries = [(int(v[0]), v[1]) for v in values]
        else:
            entries = [_json_entry(v, f"stream {i}, entry {j}") for j, v in enumerate(values)]
        out.append((dict(labels), entries))
    return out


def decode_protobuf(raw: bytes) -> PushedStreams:
    """A decompressed logproto.PushRequest."""
    req = push_request_class()()
    try:
        req.ParseFromString(raw)
    except Exception as exc:  # google.protobuf.message.DecodeError, invalid UTF-8...
        raise PushError(f"error parsing protobuf push request: {exc}") from None
    out: PushedStreams = []
    for st in req.streams:
        entries = [
            (e.timestamp.seconds * 1_000_000_000 + e.timestamp.nanos, e.line) for e in st.entries
        ]
        try:
            labels = parse_labels(st.labels)
        except PushError as exc:
            labels = InvalidLabels(str(exc))
        out.append((labels, entries))
    return out


def decode_push(body: bytes, content_type: str, content_encoding: str) -> PushedStreams:
    """Dispatch on the headers the way Loki does: JSON for application/json, otherwise
    snappy-compressed protobuf; gzip/deflate undone first, every step size-capped."""
    try:
        body = inflate(body, content_encoding)
    except BadEncoding as exc:
        raise PushError(str(exc)) from None
    if content_type.split(";")[0].strip().lower() == "application/json":
        return decode_json(body)
    try:
        raw = unsnappy(body)
    except BadEncoding as exc:
        raise PushError(str(exc)) from None
    return decode_protobuf(raw)


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
