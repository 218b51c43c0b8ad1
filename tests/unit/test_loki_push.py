"""Push bodies and request parameters, read the way Loki reads them."""

from __future__ import annotations

import gzip

import orjson
import pytest

from labkit.standins.loki.params import ParamError, parse_step, parse_time
from labkit.standins.loki.push import decode_push, encode_protobuf, parse_labels
from labkit.standins.loki.store import PushError

STREAMS = [
    (
        {"job": "llm-api", "msg": 'say "hi"'},
        [(1_700_000_000_123_456_789, "line one"), (1_700_000_001_000_000_000, "two")],
    )
]
JSON_BODY = orjson.dumps(
    {"streams": [{"stream": labels, "values": [[str(t), line] for t, line in entries]}
                 for labels, entries in STREAMS]}
)


@pytest.mark.parametrize(("body", "ctype", "encoding"), [
    (JSON_BODY, "application/json", ""),
    (gzip.compress(JSON_BODY), "application/json", "gzip"),
    (encode_protobuf(STREAMS), "application/x-protobuf", ""),
    (gzip.compress(encode_protobuf(STREAMS)), "application/x-protobuf", "gzip"),
], ids=["json", "json-gzip", "protobuf-snappy", "protobuf-gzip"])
def test_every_encoding_decodes_to_the_same_streams(body: bytes, ctype: str, encoding: str) -> None:
    """JSON, snappy protobuf and gzip all give the labels and nanosecond timestamps sent."""
    assert decode_push(body, ctype, encoding) == STREAMS


@pytest.mark.parametrize(("body", "ctype", "message"), [
    (b"{not json", "application/json", "error parsing push request"),
    (b'{"streams":[{"stream":{"a":"b"},"values":[["x","l"]]}]}', "application/json",
     "timestamp .x. is not an integer"),
    (b'{"streams":[{"values":[]}]}', "application/json", '"stream"'),
    (b"\x00garbage", "application/x-protobuf", "snappy|protobuf"),
], ids=["bad-json", "bad-timestamp", "missing-stream", "bad-protobuf"])
def test_bad_push_bodies_are_refused(body: bytes, ctype: str, message: str) -> None:
    """A malformed push says what is wrong."""
    with pytest.raises(PushError, match=message):
        decode_push(body, ctype, "")


def test_label_strings_parse_with_escapes() -> None:
    """Protobuf pushes carry labels as text; quotes and commas inside values survive."""
    assert parse_labels('{a="x, y", b="q\\"z"}') == {"a": "x, y", "b": 'q"z'}
    with pytest.raises(PushError):
        parse_labels("a=b")


@pytest.mark.parametrize(("value", "expected"), [
    ("1700000000", 1_700_000_000 * 10**9),
    ("1700000000123456789", 1_700_000_000_123_456_789),
    ("1700000000.5", 1_700_000_000_500_000_000),
    ("2023-11-14T22:13:20.123456789Z", 1_700_000_000_123_456_789),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000 * 10**9),
], ids=["seconds", "nanoseconds", "float-seconds", "rfc3339-nano", "rfc3339-offset"])
def test_times_are_read_like_loki(value: str, expected: int) -> None:
    """ns, seconds (≤10 digits or with a fraction) and RFC3339 are all accepted."""
    assert parse_time(value, 0, "start") == expected


@pytest.mark.parametrize(("value", "expected_s"),
                         [("15", 15), ("1m", 60), ("0.5", 0.5), (None, 14)],
                         ids=["seconds", "duration", "fraction", "default-range-over-250"])
def test_steps(value: str | None, expected_s: float) -> None:
    """Steps are seconds or durations; the default divides one hour by 250, floored."""
    assert parse_step(value, 0, 3600 * 10**9) == int(expected_s * 10**9)


def test_bad_step_is_refused() -> None:
    """A zero step is refused with Loki's words."""
    with pytest.raises(ParamError, match="zero or negative"):
        parse_step("0", 0, 10)
