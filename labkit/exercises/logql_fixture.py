"""Judge LogQL answers on fixed log streams, hermetically.

The fixture is ten minutes of the gateway's JSON log lines (``{job="llm-api", level=...}``
streams, fields as ``labkit/gateway/record.py`` writes them), generated from fixed rules
and held by labkit's Loki stand-in *in this process* (its HTTP API through Starlette's
test client, no port, no service): the LogQL of Loki's documentation, on data that cannot
change between a learner's check and a grader's. :func:`fixture_lab` gives an object with
the ``.loki.fetch`` the comparisons in :mod:`labkit.exercises.compare_logql` use.

Built so that the usual mistakes differ from the right answer: lines that are not
"Request completed" (fault changes, without duration or tokens), 4xx warnings besides 5xx
errors, injected faults besides real failures, users whose request counts and token
totals rank differently, a user_1 request at exactly 200 ms, and errors that start at 5m.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx

from labkit.query.loki import Loki

__all__ = ["END", "FIXTURE_ID", "START", "InProcessTransport", "fixture_lab", "fixture_loki",
           "gateway_lines", "id_lines"]

FIXTURE_ID = "gateway-logs-10m-v1"
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
END = START + 600.0
USERS = ("user_1", "user_2", "user_1", "user_3", "user_4", "user_1", "user_2", "user_5",
         "user_1", "user_3", "user_6")
BIG_SPENDER = "user_4"  # few requests, many tokens: top users by tokens differ from by count
Line = tuple[dict[str, str], int, str]  # stream labels, ns, line


@dataclass(frozen=True)
class _Request:
    i: int
    at: float
    user: str
    model: str
    status: int
    duration_ms: float
    error_type: str | None


def _request(i: int) -> _Request:
    at = START + 2 * i + (i * 37 % 1000) / 1000
    user = USERS[(i * 5) % len(USERS)]
    model = "labkit-small" if i % 5 == 0 else "labkit-tiny"
    status, error_type = 200, None
    if 150 <= i < 220 and i % 3 == 0:
        status, error_type = 500, "injected_fault"
    elif i % 17 == 0 and i >= 60:
        status, error_type = 504, "upstream_timeout"
    elif i % 29 == 0 and i >= 100:
        status, error_type = 502, "upstream_error"
    elif i % 23 == 0:
        status, error_type = 400, "invalid_json"
    duration = {200: 40 + (i * 53 % 420) + (150 if model == "labkit-small" else 0),
                500: 3 + i % 7, 502: 30 + i % 9, 504: 1000 + i % 50, 400: 1 + i % 3}[status]
    if i == 41:
        user, status, error_type, duration = "user_1", 200, None, 200  # at the threshold
    return _Request(i, at, user, model, status, float(duration), error_type)


def _line(at: float, level: str, message: str, **fields: Any) -> Line:
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {"timestamp": stamp, "level": level, "message": message, "module": "record",
            "function": "finish", **fields}
    return {"job": "llm-api", "level": level}, round(at * 1e9), json.dumps(body)


def _completed(r: _Request, request_id: str, trace_id: str) -> Line:
    ok = r.status == 200
    prompt = 10 + r.i % 13 if r.status != 400 else 0
    completion = (16 + r.i % 9) * (4 if r.user == BIG_SPENDER else 1) if ok else 0
    level = "INFO" if ok else "WARNING" if r.status < 500 else "ERROR"
    fields: dict[str, Any] = {
        "request_id": request_id, "user_id": r.user,
        "model": r.model if r.status != 400 else "unknown", "endpoint": "/v1/chat/completions",
        "stream": r.i % 2 == 0, "status": r.status, "duration_ms": r.duration_ms,
        "queued_ms": float(r.i % 4), "prompt_tokens": prompt, "completion_tokens": completion,
        "tokens": prompt + completion, "ttft_ms": round(r.duration_ms / 4, 3) if ok else None,
        "finish_reason": "length" if ok else None, "trace_id": trace_id,
        "span_id": trace_id[:16]}
    if r.error_type:
        fields |= {"error_type": r.error_type, "error": f"{r.error_type.replace('_', ' ')}"}
    return _line(r.at + r.duration_ms / 1000, level, "Request completed", **fields)


def gateway_lines() -> list[Line]:
    """Every line of the fixture: 300 requests and three fault changes."""
    lines = [_completed(r, f"req_{r.i:04x}{'f' * 8}", f"{r.i:032x}")
             for r in map(_request, range(300))]
    for at, faults in ((START + 299.5, {"error_rate": 0.3}), (START + 440.5, {}),
                       (START + 570.2, {"latency_ms": 300})):
        lines.append(_line(at, "WARNING", "Faults changed",
                           faults={"error_rate": 0.0, "latency_ms": 0.0, **faults}))
    return lines


def id_lines(field: str, value: str) -> list[Line]:
    """The fixture's lines plus three attempts of one request whose ``field`` is ``value``
    (an injected 500, a 504, then a success), and three of another request (a decoy)."""
    attempts = [(500, "injected_fault"), (504, "upstream_timeout"), (200, None)]
    extra = []
    for n, (target, decoy_offset) in enumerate(((value, 0.0), (None, 31.0))):
        for k, (status, error_type) in enumerate(attempts):
            r = _Request(1000 + 3 * n + k, START + 480 + decoy_offset + 4 * k, "user_7",
                         "labkit-tiny", status, 20.0 + 300 * (status == 504), error_type)
            rid, tid = f"req_retry_decoy{n}", f"{1000 + 3 * n + k:032x}"
            if target is not None:
                rid, tid = (value, tid) if field == "request_id" else (rid, value)
            extra.append(_completed(r, rid, tid))
    return gateway_lines() + extra


class InProcessTransport(httpx.BaseTransport):
    """Hands each request to an ASGI app (the Loki stand-in) through Starlette's TestClient."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.client.request(request.method, request.url.raw_path.decode(),
                                     content=request.read(), headers=request.headers)
        return httpx.Response(answer.status_code, content=answer.content,
                              headers={"content-type": answer.headers.get("content-type", "")})


def fixture_loki(lines: list[Line]) -> Loki:
    """A Loki client whose server is the stand-in in this process, holding ``lines``."""
    from starlette.testclient import TestClient

    from labkit.standins.loki.app import create_app

    folder = tempfile.mkdtemp(prefix="labkit-logql-fixture-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    app = create_app(folder)
    streams: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
    for labels, ns, text in sorted(lines, key=lambda x: x[1]):
        streams.setdefault(tuple(sorted(labels.items())), []).append((ns, text))
    app.state.store.push([(dict(k), v) for k, v in streams.items()])
    return Loki("http://labkit-fixture", transport=InProcessTransport(TestClient(app)))


@functools.cache
def fixture_lab(field: str = "", value: str = "") -> SimpleNamespace:
    """A lab-like object whose ``loki`` holds the fixture (plus one request's lines when
    ``field`` and ``value`` name it)."""
    lines = id_lines(field, value) if field else gateway_lines()
    return SimpleNamespace(loki=fixture_loki(lines))
