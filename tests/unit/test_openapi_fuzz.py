"""schemathesis against the OpenAPI documents the gateway and the sink publish.

Every operation is called with values generated from its schema (paths, queries,
headers and bodies): none may answer 5xx. The Jaeger stand-in publishes no OpenAPI
document; its query API is fuzzed parameter by parameter in test_fuzz_servers.py.
(schemathesis's own pytest plugin does not run on pytest 9, so each operation's
hypothesis strategy is driven here directly.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from labkit.gateway import GatewaySettings, create_app
from labkit.gateway.logs import setup_logging
from labkit.standins.sink import create_app as create_sink
from labkit.testing import FakeLlamaServer

LOCAL = {"host": "127.0.0.1:8000"}  # past the Host check, so the routes themselves are fuzzed
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def fuzz_every_operation(app: Any) -> dict[str, set[int]]:
    """Call each operation of the app's OpenAPI with generated cases; the statuses seen."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=LOCAL)
    seen: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        _fuzzer(result.ok(), seen.setdefault(result.ok().label, set()))()
    return seen


def _fuzzer(operation: Any, statuses: set[int]) -> Any:
    @FUZZ
    @given(case=operation.as_strategy())
    def call(case: schemathesis.Case) -> None:
        response = case.call(headers=LOCAL)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")
        statuses.add(response.status_code)

    return call


def _reached(seen: dict[str, set[int]], label: str) -> bool:
    """Some request got past the guard and the parsing to the handler (a 2xx)."""
    return any(200 <= s < 300 for s in seen.get(label, ()))


def test_gateway_operations_never_answer_5xx(tmp_path: Path) -> None:
    """Every gateway operation, fuzzed from its schema, answers below 500."""
    setup_logging(None, stdout=False)
    with FakeLlamaServer() as fake:
        app = create_app(GatewaySettings(upstream=fake.url, tracing=False,
                                         usage_db=f"sqlite:///{tmp_path / 'u.db'}"), seed=1)
        seen = fuzz_every_operation(app)
    assert {"POST /v1/chat/completions", "POST /admin/faults", "GET /metrics"} <= set(seen)
    assert _reached(seen, "POST /admin/faults") and _reached(seen, "GET /v1/models"), seen


def test_sink_operations_never_answer_5xx(tmp_path: Path) -> None:
    """Every sink operation, fuzzed from its schema, answers below 500."""
    seen = fuzz_every_operation(create_sink(tmp_path / "sink"))
    assert {"POST /hook/{receiver}", "GET /notifications"} <= set(seen)
    assert _reached(seen, "GET /notifications"), seen


@pytest.mark.parametrize("field", ["messages", "model", "stream_options"])
def test_the_chat_schema_documents_the_body(field: str) -> None:
    """The chat operation's OpenAPI shows the request body the gateway checks."""
    app = create_app(GatewaySettings(tracing=False))
    body = app.openapi()["paths"]["/v1/chat/completions"]["post"]["requestBody"]
    assert field in body["content"]["application/json"]["schema"]["properties"]
