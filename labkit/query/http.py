"""The one HTTP boundary of labkit's clients: httpx in, labkit errors out.

The Prometheus, Loki, Jaeger and Alertmanager clients and the fault client all talk to
their service through :class:`ServiceClient`, so a service that is down, slow, or answering
an error reads the same everywhere:

* nothing listens: :class:`~labkit.errors.QueryError` ``cannot reach Loki at <url>: ...
  Is the lab running? Start it with `labkit up` ...``;
* no answer in time: ``QueryError`` ``Jaeger at <url> did not answer <path> within 10s; ...``;
* an HTTP error: :class:`~labkit.errors.QueryHTTPError` (``.url``, ``.status``, ``.body``)
  with the server's own message, whichever of the error bodies the services use it is in;
  a 400 whose message is a parse error is a :class:`~labkit.errors.QueryParseError`.

>>> with ServiceClient("http://127.0.0.1:9090", service="Prometheus") as prom:  # doctest: +SKIP
...     prom.json("GET", "/api/v1/query", params={"query": "up"}, what="the query 'up'")
"""

from __future__ import annotations

from typing import Any, Self

import httpx

from labkit.errors import QueryError, QueryHTTPError, QueryParseError

__all__ = ["ServiceAPI", "ServiceClient", "server_message"]

_NOT_JSON: Any = object()
LAB_HINT = "Is the lab running? Start it with `labkit up`; `labkit status` shows its URLs."


def _decoded(response: httpx.Response) -> Any:
    """The JSON body, or ``_NOT_JSON``."""
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def server_message(response: httpx.Response) -> str:
    """The error text in a response body, in any of the shapes labkit's services use.

    Prometheus ``{"error": "..."}``, the gateway's (OpenAI's) ``{"error": {"message": ...}}``,
    Jaeger's ``{"errors": [{"msg": ...}]}``, Alertmanager's JSON string, and Loki's plain
    text. Empty when the body holds none of them.
    """
    body = _decoded(response)
    if body is _NOT_JSON:
        return response.text.strip()[:500]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)
        if error:
            return str(error)
        if body.get("errors"):
            return "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e)
                             for e in body["errors"])
        return str(body.get("message") or "")
    return body if isinstance(body, str) else ""


def _is_parse_error(message: str) -> bool:
    return "parse error" in message or 'invalid parameter "query"' in message


class _Closing:
    """``with`` blocks, ``closed`` and an idempotent ``close()`` over one httpx pool."""

    def _pool(self) -> httpx.Client:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (the client cannot send any more)."""
        return self._pool().is_closed

    def close(self) -> None:
        """Release the HTTP connection pool; safe to call twice."""
        self._pool().close()


class ServiceClient(_Closing):
    """An httpx client for one service's HTTP API that raises only labkit errors.

    ``service`` names it in messages ("Prometheus", "the gateway"); ``timeout_hint`` says
    what to do when it is slow. Connection failures are retried once (a service that is
    restarting gets a second chance), HTTP errors never. A closed client opens a new pool
    when it is used again: ``prom = lab.prometheus`` keeps working after some later cell's
    ``with lab.prometheus as p:`` block has closed the shared client.
    """

    def __init__(self, url: str, *, service: str, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 headers: dict[str, str] | None = None, timeout_hint: str = "") -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{service} URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.service = service
        self.timeout = timeout
        self.timeout_hint = timeout_hint or f"try again, or a longer timeout= for {service}"
        self._headers, self._transport = headers, transport
        self._client = self._open()

    def _open(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=self.timeout, headers=self._headers,
                            transport=self._transport or httpx.HTTPTransport(retries=1))

    def __repr__(self) -> str:
        return f"ServiceClient({self.url!r}, service={self.service!r})"

    def _pool(self) -> httpx.Client:
        return self._client

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request and return the response, whatever its status.

        Transport failures become :class:`QueryError`: the one place they are translated.
        """
        if self._client.is_closed:
            self._client = self._open()
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise QueryError(f"{self.service} at {self.url} did not answer {path} within "
                             f"{self.timeout:g}s; {self.timeout_hint}") from exc
        except httpx.TransportError as exc:
            raise QueryError(f"cannot reach {self.service} at {self.url}{path}: "
                             f"{type(exc).__name__}: {exc}. {LAB_HINT}") from exc
        except httpx.HTTPError as exc:  # an answer that cannot be read (bad encoding, ...)
            raise QueryError(f"{self.service} at {self.url}{path} sent an answer httpx cannot "
                             f"read: {type(exc).__name__}: {exc}") from exc

    def request(self, method: str, path: str, *, what: str = "", json_errors: bool = False,
                **kwargs: Any) -> httpx.Response:
        """:meth:`send`, raising :class:`QueryHTTPError` for a status of 400 or more.

        ``what`` names the request in the message (default: method and path). With
        ``json_errors``, the service always explains errors in JSON, so an error without
        such a body means the URL points at something else, and the message says so.
        """
        response = self.send(method, path, **kwargs)
        if response.status_code >= 400:
            raise self.error(response, what or f"{method} {path}", json_errors=json_errors)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request` and decode the JSON answer (None for an empty body)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise QueryError(f"{self.service} at {response.url} answered with something that "
                             f"is not JSON: {response.text[:200]!r}") from exc

    def error(self, response: httpx.Response, what: str, *,
              json_errors: bool = False) -> QueryHTTPError:
        """The labkit error for an HTTP error ``response`` to the request named ``what``."""
        message, status = server_message(response), response.status_code
        cls: type[QueryHTTPError] = QueryHTTPError
        if json_errors and (not message or _decoded(response) is _NOT_JSON):
            text = (f"{response.url} answered HTTP {status} without a {self.service} error "
                    f"body ({response.text[:120]!r}); is {self.url} really {self.service}?")
        elif status == 400 and _is_parse_error(message):
            cls, text = QueryParseError, f"{self.service} could not parse {what}: {message}"
        else:
            kind = _error_type(response)
            text = (f"{self.service} refused {what} (HTTP {status}{kind})"
                    + (f": {message}" if message else ""))
        return cls(text, url=str(response.url), status=status, body=response.text)


class ServiceAPI(_Closing):
    """Base of the query clients: one :class:`ServiceClient`, ``with`` blocks and ``close()``.

    ``url`` and ``closed`` are what :class:`labkit.Lab` checks to reuse a cached client.
    """

    def __init__(self, url: str, *, service: str, timeout: float,
                 transport: httpx.BaseTransport | None = None,
                 headers: dict[str, str] | None = None, timeout_hint: str = "") -> None:
        self._http = ServiceClient(url, service=service, timeout=timeout, transport=transport,
                                   headers=headers, timeout_hint=timeout_hint)
        self.url = self._http.url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _pool(self) -> httpx.Client:
        return self._http._client


def _error_type(response: httpx.Response) -> str:
    """``, execution``: Prometheus's errorType, when the body has one."""
    body = _decoded(response)
    kind = body.get("errorType") if isinstance(body, dict) else None
    return f", {kind}" if kind else ""
