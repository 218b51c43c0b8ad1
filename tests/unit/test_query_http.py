"""The one HTTP boundary: transport failures and error answers become labkit errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from labkit.errors import QueryError, QueryHTTPError, QueryParseError
from labkit.query.http import ServiceClient, server_message
from labkit.testing import free_port


def _client(status: int, service: str = "Prometheus", **answer: Any) -> ServiceClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, **answer))
    return ServiceClient("http://svc.test", service=service, transport=transport)


@pytest.mark.parametrize(("answer", "message"), [
    ({"json": {"status": "error", "errorType": "bad_data", "error": "bad type"}}, "bad type"),
    ({"json": {"error": {"message": "error_rate must be in [0, 1]"}}},
     "error_rate must be in [0, 1]"),
    ({"text": '{"data": null, "errors": [{"code": 404, "msg": "trace not found"}]}'},
     "trace not found"),
    ({"json": "silence not found"}, "silence not found"),
    ({"text": "parse error at line 1, col 9\n"}, "parse error at line 1, col 9"),
    ({"json": {"data": []}}, ""),
], ids=["prometheus", "gateway", "jaeger", "alertmanager", "loki", "none"])
def test_server_message_reads_every_services_error_body(answer: dict[str, Any],
                                                        message: str) -> None:
    """Each service's error body shape yields its own message, and none yields nothing."""
    assert server_message(httpx.Response(400, **answer)) == message


def test_http_error_carries_url_status_body_and_message() -> None:
    """An error status is a QueryHTTPError naming the service, the request and the reason."""
    with _client(422, json={"status": "error", "errorType": "execution", "error": "too many"}) \
            as client, pytest.raises(QueryHTTPError) as info:
        client.request("GET", "/api/v1/query", what="the query 'up'")
    assert str(info.value) == "Prometheus refused the query 'up' (HTTP 422, execution): too many"
    assert (info.value.url, info.value.status) == ("http://svc.test/api/v1/query", 422)
    assert "too many" in info.value.body and not isinstance(info.value, QueryParseError)


def test_parse_error_of_a_400_is_a_query_parse_error() -> None:
    """A 400 whose message is a parse error says the service could not parse the query."""
    with _client(400, service="Loki", text="parse error at line 1, col 9") as client, \
            pytest.raises(QueryParseError, match="Loki could not parse the query 'x': parse"):
        client.request("GET", "/q", what="the query 'x'")


@pytest.mark.parametrize("answer", [{"text": "404 page not found"}, {"json": {"data": 1}}],
                         ids=["text", "json-without-error"])
def test_service_that_speaks_json_errors_but_did_not_is_named(answer: dict[str, Any]) -> None:
    """With json_errors, an error without the service's error body asks if the URL is right."""
    with _client(404, **answer) as client, \
            pytest.raises(QueryHTTPError, match=r"is http://svc\.test really Prometheus"):
        client.request("GET", "/api/v1/query", json_errors=True)


def test_success_passes_through_and_json_decodes() -> None:
    """A 2xx answer is returned; json() decodes it, and an empty body is None."""
    with _client(200, json={"ok": 1}) as client:
        assert client.json("GET", "/x") == {"ok": 1}
    with _client(200) as client:
        assert client.json("GET", "/x") is None
    with _client(200, text="<html>") as client, pytest.raises(QueryError, match="not JSON"):
        client.json("GET", "/x")


def test_timeout_says_how_long_and_what_to_do() -> None:
    """A read timeout names the service, the path, the timeout and the hint."""
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)
    with ServiceClient("http://svc.test", service="Jaeger", timeout=3, timeout_hint="narrow it",
                       transport=httpx.MockTransport(slow)) as client, \
            pytest.raises(QueryError, match=r"Jaeger at http://svc.test did not answer "
                                            r"/api/traces within 3s; narrow it"):
        client.send("GET", "/api/traces")


def test_an_unreadable_answer_is_a_query_error() -> None:
    """httpx failing to decode an answer is a QueryError naming the service, not httpx's own."""
    def garbled(request: httpx.Request) -> httpx.Response:
        raise httpx.DecodingError("bad gzip", request=request)
    with ServiceClient("http://svc.test", service="Loki",
                       transport=httpx.MockTransport(garbled)) as client, \
            pytest.raises(QueryError, match=r"Loki at http://svc\.test/x sent an answer httpx"):
        client.send("GET", "/x")


def test_connection_refused_names_the_url_and_labkit_up() -> None:
    """Nothing listening: the error names the service, the URL and how to start the lab."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with ServiceClient(url, service="Loki") as client, \
            pytest.raises(QueryError, match=rf"cannot reach Loki at {url}/ready: .*labkit up"):
        client.send("GET", "/ready")


def test_close_is_idempotent_and_reported() -> None:
    """closed turns true after close(), which may be called twice; a bad URL is refused."""
    client = ServiceClient("http://svc.test/", service="Loki")
    assert client.url == "http://svc.test" and not client.closed
    client.close()
    client.close()
    assert client.closed
    with pytest.raises(ValueError, match="Loki URL must start with http"):
        ServiceClient("svc.test", service="Loki")


def test_a_closed_client_reopens_when_used_again() -> None:
    """A client closed by someone else's ``with`` block still answers, with its own settings."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-scope-orgid", ""))
        return httpx.Response(200, json={"status": "success"})

    client = ServiceClient("http://svc.test", service="Loki", headers={"X-Scope-OrgID": "lab"},
                           transport=httpx.MockTransport(handler))
    with client:
        pass
    assert client.closed
    assert client.json("GET", "/ready") == {"status": "success"}
    assert not client.closed and seen == ["lab"]
    client.close()
