"""OTLP/HTTP request decoding: protobuf and OTLP/JSON, gzip, and refusals of bad payloads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from labkit.standins.jaeger.model import rows_from_request
from labkit.standins.jaeger.otlp import (
    OTLPDecodeError,
    decode_request,
    encode_response,
    encode_status,
)

FIXTURES = Path(__file__).parent / "fixtures" / "jaeger"
PB = "application/x-protobuf"
JSON = "application/json"


def _json_fixture() -> dict:
    return json.loads((FIXTURES / "sdk_export.json").read_text())


def test_protobuf_and_json_encodings_decode_to_the_same_spans() -> None:
    """The SDK's protobuf bytes and the same request in OTLP/JSON yield identical spans."""
    from_pb = list(rows_from_request(decode_request((FIXTURES / "sdk_export.pb").read_bytes(), PB)))
    from_json = list(
        rows_from_request(decode_request((FIXTURES / "sdk_export.json").read_bytes(), JSON))
    )
    assert from_pb == from_json
    assert [r.operation for r in from_pb] == [
        "POST /v1/chat/completions",
        "tokenize",
        "inference",
        "post_process",
    ]


def test_json_hex_ids_become_the_right_bytes() -> None:
    """OTLP/JSON trace and span ids are hex, not base64 as in plain proto3 JSON."""
    request = decode_request((FIXTURES / "sdk_export.json").read_bytes(), JSON)
    span = request.resource_spans[0].scope_spans[0].spans[1]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "1000000000000002"
    assert span.parent_span_id.hex() == "1000000000000001"


def test_gzip_content_encoding_is_accepted() -> None:
    """A gzipped body (what OTLPSpanExporter sends with compression=gzip) decodes the same."""
    raw = (FIXTURES / "sdk_export.pb").read_bytes()
    assert decode_request(gzip.compress(raw), PB, "gzip") == decode_request(raw, PB)


def test_json_accepts_enum_ints_int64_numbers_and_ignores_unknown_fields() -> None:
    """Receivers must take enum ints, int64 as numbers or strings, and skip unknown fields."""
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "futureField": 1,
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "000000000000000000000000000000ab",
                                "spanId": "00000000000000cd",
                                "name": "x",
                                "kind": 3,
                                "startTimeUnixNano": 1000,
                                "endTimeUnixNano": "3000",
                                "somethingNew": {"a": 1},
                                "attributes": [{"key": "n", "value": {"intValue": 7}}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    rows = list(
        rows_from_request(decode_request(json.dumps(doc).encode(), JSON + "; charset=utf-8"))
    )
    assert len(rows) == 1
    assert (rows[0].kind, rows[0].start_us, rows[0].duration_us) == ("client", 1, 2)
    assert rows[0].service == "missing-service-name"
    assert '"traceID":"00000000000000ab"' in rows[0].span_json  # zero high half: 16 digits


def _json_with(**span_fields: object) -> bytes:
    doc = _json_fixture()
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(span_fields)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "message"),
    [
        (b"\xff\xff\xff\xff", PB, None, "not a valid protobuf"),
        (b"{not json", JSON, None, "not valid JSON"),
        (b"[1, 2]", JSON, None, "must be an object"),
        (_json_with(traceId="abc"), JSON, None, "traceId must be 32 hex characters"),
        (_json_with(spanId="zz00000000000000"), JSON, None, "spanId must be 16 hex characters"),
        (_json_with(traceId="0" * 32), JSON, None, "invalid trace id"),
        (_json_with(startTimeUnixNano="soon"), JSON, None, "not a valid OTLP trace request"),
        (b"\x1f\x8b not gzip", PB, "gzip", "not valid gzip"),
        (b"", PB, "br", "unsupported Content-Encoding"),
        (b"{}", "text/plain", None, "unsupported Content-Type"),
    ],
    ids=[
        "garbage-protobuf",
        "broken-json",
        "json-array",
        "short-trace-id",
        "non-hex-span-id",
        "zero-trace-id",
        "non-numeric-time",
        "bad-gzip",
        "brotli",
        "text-plain",
    ],
)
def test_bad_payloads_are_refused_with_a_reason(
    body: bytes, content_type: str, encoding: str | None, message: str
) -> None:
    """Each malformed request raises OTLPDecodeError saying what was wrong."""
    with pytest.raises(OTLPDecodeError, match=message):
        decode_request(body, content_type, encoding)


def test_responses_use_the_request_encoding() -> None:
    """A success is an empty ExportTraceServiceResponse; an error a google.rpc.Status."""
    from google.rpc.status_pb2 import Status

    assert encode_response(JSON) == b"{}"
    assert encode_response(PB) == b""
    assert Status.FromString(encode_status(PB, "bad")).message == "bad"
    assert json.loads(encode_status(JSON, "bad")) == {"code": 3, "message": "bad"}
