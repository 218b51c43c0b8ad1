"""An ASGI middleware that keeps a web page the learner visits from driving a loopback server.

Binding 127.0.0.1 keeps other machines out, not the learner's own browser:

- a cross-site "simple" POST (``text/plain``, a form) reaches a loopback server without
  a CORS preflight, so state-changing requests must carry a JSON (or, for OTLP,
  protobuf) ``Content-Type``, which a page can only send after a preflight that labkit's
  servers never grant (415 otherwise);
- DNS rebinding points an attacker's name at 127.0.0.1 so the page can read the answers:
  the ``Host`` header must name this server (a loopback name or the bound address;
  400 otherwise);
- ``/admin/*`` takes a bearer token when one is configured, and requires one when
  the server is bound beyond loopback (401/403 otherwise).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

__all__ = ["LoopbackGuard", "allowed_hosts", "is_loopback", "json_error"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[int, str], tuple[bytes, str]]

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def is_loopback(host: str) -> bool:
    """Whether a host name or address stays on this machine (``localhost``, 127/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The ``Host`` names a server bound to ``bind_host`` answers; None means any.

    Loopback names plus the bound address. A server bound to every interface cannot
    know the names it is reached by (a container's service name, say): it answers any
    name unless ``extra`` lists them, and relies on its admin token instead.
    """
    bind = bind_host.strip("[]").lower()
    names = {n.strip("[]").lower() for n in extra}
    if bind in WILDCARDS and not names:
        return None
    return frozenset({"localhost", "127.0.0.1", "::1", *names} | ({bind} - WILDCARDS))


def json_error(status: int, message: str) -> tuple[bytes, str]:
    """The default refusal body: ``{"error": message}``."""
    return orjson.dumps({"error": message}), "application/json"


def _host_name(value: str) -> str:
    """The name in a Host header, without its port (``[::1]:8000`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class LoopbackGuard:
    """Refuse foreign Host names, non-JSON state changes and unauthenticated admin calls.

    ``body_types`` maps a path prefix to the media types its POST/PUT/PATCH may carry
    (the longest matching prefix wins; ``""`` is the default).

    >>> app = LoopbackGuard(app, hosts=allowed_hosts("127.0.0.1"))  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str] | None,
                 body_types: dict[str, tuple[str, ...]] | None = None,
                 admin_token: str | None = None, admin_required: bool = False,
                 admin_prefix: str = "/admin", error_body: ErrorBody = json_error) -> None:
        self.app = app
        self.hosts = hosts
        self.body_types = sorted((body_types or {"": ("application/json",)}).items(),
                                 key=lambda kv: len(kv[0]), reverse=True)
        self.admin_token = admin_token
        self.admin_required = admin_required or admin_token is not None
        self.admin_prefix = admin_prefix
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message, extra = refusal
        body, media = self.error_body(status, message)
        headers = [(b"content-type", media.encode()),
                   (b"content-length", str(len(body)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def refusal(self, scope: Scope) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        """Why this request is refused (status, message, extra headers), or None."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if self.hosts is not None:
            host = _host_name(headers.get("host", ""))
            if host not in self.hosts:
                return 400, (f"this server answers only to {', '.join(sorted(self.hosts))} "
                             f"in the Host header, not {host!r}"), []
        path: str = scope.get("path", "")
        if self.admin_required and path.startswith(self.admin_prefix):
            if self.admin_token is None:
                return 403, ("the admin API is off on a server bound beyond loopback until "
                             "an admin token is set (LABKIT_ADMIN_TOKEN)"), []
            given = headers.get("authorization", "")
            expected = f"Bearer {self.admin_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return 401, ("the admin API needs the header 'Authorization: Bearer <token>' "
                             "with the lab's admin token"), [(b"www-authenticate", b"Bearer")]
        if scope.get("method") in STATE_CHANGING:
            allowed = next((types for prefix, types in self.body_types
                            if path.startswith(prefix)), ("application/json",))
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media not in allowed:
                return 415, (f"Content-Type must be {' or '.join(allowed)}, "
                             f"not {media or 'missing'!r}"), []
        return None
