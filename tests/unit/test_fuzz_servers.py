"""Property tests: no input makes a labkit server answer 5xx or die.

Hypothesis generates what an attacker or an unlucky client might send: random bytes,
random JSON shapes, well-formed OTLP with extreme values (times at the ends of
uint64, unicode of every plane, deep attribute maps). Every server must answer
with a 2xx or a 4xx and keep serving.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from starlette.testclient import TestClient

from labkit.gateway import GatewaySettings, create_app
from labkit.gateway.logs import setup_logging
from labkit.standins.jaeger.app import create_otlp_app, create_query_app
from labkit.standins.jaeger.model import rows_from_request
from labkit.standins.jaeger.otlp import OTLPDecodeError, decode_request
from labkit.standins.jaeger.store import Store
from labkit.standins.sink import create_app as create_sink
from labkit.testing import FakeLlamaServer

FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=20)
PB = "application/x-protobuf"


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# -- OTLP decoding and translation (the Jaeger stand-in) ----------------------------------------

any_values = st.recursive(
    st.builds(AnyValue, string_value=st.text()) | st.builds(AnyValue, bool_value=st.booleans())
    | st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1))
    | st.builds(AnyValue, double_value=st.floats()) | st.builds(AnyValue, bytes_value=st.binary()),
    lambda inner: st.lists(inner, max_size=3).map(
        lambda vs: AnyValue(array_value={"values": vs}))
    | st.lists(st.tuples(st.text(max_size=8), inner), max_size=3).map(
        lambda kvs: AnyValue(kvlist_value={"values": [KeyValue(key=k, value=v)
                                                      for k, v in kvs]})),
    max_leaves=10)
attributes = st.lists(st.builds(KeyValue, key=st.text(max_size=10), value=any_values),
                      max_size=4)
uint64 = st.integers(0, 2**64 - 1)
spans = st.builds(
    Span, trace_id=st.binary(min_size=16, max_size=16), span_id=st.binary(min_size=8, max_size=8),
    parent_span_id=st.sampled_from([b""]) | st.binary(min_size=8, max_size=8),
    name=st.text(), kind=st.integers(0, 9), start_time_unix_nano=uint64,
    end_time_unix_nano=uint64, attributes=attributes,
    events=st.lists(st.builds(Span.Event, name=st.text(max_size=10), time_unix_nano=uint64,
                              attributes=attributes), max_size=2),
    links=st.lists(st.builds(Span.Link, trace_id=st.binary(min_size=16, max_size=16),
                             span_id=st.binary(min_size=8, max_size=8)), max_size=2),
    status=st.builds(lambda c, m: {"code": c, "message": m}, st.integers(0, 5),
                     st.text(max_size=8)))
requests = st.builds(
    lambda rs: ExportTraceServiceRequest(resource_spans=rs),
    st.lists(st.builds(lambda attrs, ss: ResourceSpans(resource={"attributes": attrs},
                                                       scope_spans=[ScopeSpans(spans=ss)]),
                       attributes, st.lists(spans, min_size=1, max_size=3)),
             min_size=1, max_size=2))


@FUZZ
@given(st.binary(max_size=300))
def test_otlp_protobuf_decoder_refuses_garbage_cleanly(body: bytes) -> None:
    """Random bytes decode or raise OTLPDecodeError, never anything else."""
    try:
        decode_request(body, PB)
    except OTLPDecodeError:
        pass


@FUZZ
@given(JSON_VALUES)
def test_otlp_json_decoder_refuses_odd_shapes_cleanly(doc: Any) -> None:
    """Any JSON value decodes or raises OTLPDecodeError, never anything else."""
    for wrapped in (doc, {"resourceSpans": doc}, {"resourceSpans": [{"scopeSpans": [
            {"spans": [doc]}]}]}):
        try:
            rows_from_request(decode_request(_dumps(wrapped), "application/json"))
        except OTLPDecodeError:
            pass


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    store = Store(tmp_path / "jaeger")
    base = "http://127.0.0.1:4318"
    with TestClient(create_otlp_app(store), base_url=base) as otlp, \
            TestClient(create_query_app(store), base_url=base) as query:
        yield otlp, query
    store.close()


@FUZZ
@given(request=requests)
def test_jaeger_stores_and_renders_any_well_formed_export(
        jaeger: tuple[TestClient, TestClient], request: ExportTraceServiceRequest) -> None:
    """Well-formed OTLP with extreme values is stored and read back, or refused with a 400."""
    otlp, query = jaeger
    r = otlp.post("/v1/traces", content=request.SerializeToString(),
                  headers={"content-type": PB})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        for row in rows_from_request(request):
            got = query.get(f"/api/traces/{row.trace_id}")
            assert got.status_code == 200
            assert row.span_id in got.text


@FUZZ
@given(st.dictionaries(st.sampled_from(["service", "start", "end", "limit", "minDuration",
                                        "maxDuration", "lookback", "tags", "tag", "traceID",
                                        "operation", "endTs", "spanKind"]),
                       st.text(max_size=30) | st.integers(-(2**80), 2**80).map(str),
                       max_size=6),
       st.sampled_from(["/api/traces", "/api/dependencies", "/api/operations", "/api/services"]))
def test_jaeger_query_params_never_cause_a_5xx(jaeger: tuple[TestClient, TestClient],
                                               params: dict[str, str], path: str) -> None:
    """Any query parameters are answered, or refused with a 4xx naming the parameter."""
    _, query = jaeger
    r = query.get(path, params=params)
    assert r.status_code < 500, r.text


# -- the gateway's request parsing ---------------------------------------------------------------

@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("gw")
    setup_logging(None, stdout=False)
    with FakeLlamaServer() as fake:
        settings_ = GatewaySettings(upstream=fake.url, usage_db=f"sqlite:///{tmp / 'u.db'}",
                                    tracing=False)
        with TestClient(create_app(settings_, seed=1), base_url="http://127.0.0.1:8000") as c:
            yield c


chat_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["labkit-tiny"]) | JSON_SCALARS,
     "messages": st.lists(st.fixed_dictionaries(
         {"role": st.sampled_from(["user", "system", "tool"]) | JSON_SCALARS,
          "content": st.text(max_size=40) | JSON_VALUES}), max_size=3) | JSON_VALUES},
    optional={"max_tokens": st.integers(-5, 2**70) | JSON_SCALARS,
              "stream": st.booleans() | JSON_SCALARS,
              "stream_options": JSON_VALUES, "temperature": JSON_VALUES,
              "user": JSON_SCALARS, "n": JSON_SCALARS, "ignore_eos": JSON_VALUES,
              "stop": JSON_VALUES, "tools": JSON_VALUES})


@FUZZ
@given(chat_bodies)
def test_gateway_chat_never_answers_5xx_to_client_mistakes(gateway: TestClient,
                                                          body: dict[str, Any]) -> None:
    """Any request body is served or refused with a 4xx in OpenAI's error format."""
    r = gateway.post("/v1/chat/completions", content=_dumps(body),
                     headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["error"]["message"]


@FUZZ
@given(st.binary(max_size=200) | JSON_VALUES.map(_dumps),
       st.dictionaries(st.sampled_from(["x-request-id", "x-user-id"]),
                       st.text(st.characters(min_codepoint=32, max_codepoint=255,
                                             exclude_characters="\x7f"), max_size=150)
                       .map(lambda v: v.encode("latin-1")), max_size=2))
def test_gateway_never_answers_5xx_to_raw_bytes_or_odd_headers(
        gateway: TestClient, body: bytes, headers: dict[str, bytes]) -> None:
    """Raw bytes, any JSON and any id headers get a 4xx or an answer, never a 5xx."""
    r = gateway.post("/v1/chat/completions", content=body,
                     headers={"content-type": "application/json", **headers})
    assert r.status_code < 500, r.text
    faults = gateway.post("/admin/faults", content=body,
                          headers={"content-type": "application/json"})
    assert faults.status_code < 500, faults.text
    gateway.delete("/admin/faults")


# -- the notification sink ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_sink(tmp_path_factory.mktemp("sink")),
                    base_url="http://127.0.0.1:9097") as c:
        yield c


alerts = st.lists(st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]) | JSON_SCALARS,
     "labels": st.dictionaries(st.text(max_size=8), st.text(max_size=8)) | JSON_VALUES},
    optional={"annotations": JSON_VALUES, "startsAt": JSON_VALUES, "endsAt": JSON_VALUES,
              "fingerprint": JSON_VALUES}), max_size=3)


@FUZZ
@given(st.fixed_dictionaries({"alerts": alerts | JSON_VALUES},
                             optional={"version": JSON_SCALARS, "status": JSON_VALUES,
                                       "receiver": JSON_VALUES, "groupKey": JSON_VALUES})
       | JSON_VALUES, st.text(st.characters(codec="utf-8"), min_size=1, max_size=10))
def test_sink_never_answers_5xx(sink: TestClient, payload: Any, receiver: str) -> None:
    """Any webhook body is stored or refused with a 400 saying why; the sink keeps serving."""
    r = sink.post(f"/hook/{quote(receiver, safe='')}", content=_dumps(payload),
                  headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    assert sink.get("/notifications", params={"receiver": receiver}).status_code == 200


@pytest.mark.parametrize("path,params", [
    ("/api/traces", {"service": "s", "start": "99999999999999999999"}),
    ("/api/traces", {"service": "s", "end": "-9223372036854775809"}),
    ("/api/traces", {"service": "s", "limit": "1" + "0" * 5000}),
    ("/api/traces", {"service": "s", "minDuration": "9999999999999h"}),
    ("/api/dependencies", {"endTs": "9223372036854775807"}),
    ("/api/dependencies", {"endTs": "1", "lookback": "9223372036854775807"}),
], ids=["start", "end", "limit", "duration", "endTs", "lookback"])
def test_jaeger_times_outside_int64_are_a_400_or_clamped(
        jaeger: tuple[TestClient, TestClient], path: str, params: dict[str, str]) -> None:
    """Times and counts beyond Go's int64 are refused as Jaeger refuses them, or clamped."""
    r = jaeger[1].get(path, params=params)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert "out of range" in r.text or "invalid" in r.text
