"""Keep web pages from driving the stand-in: loopback is not a security boundary on its own.

A page the learner visits can send "simple" cross-site requests (a POST with
``Content-Type: text/plain``, no preflight) to 127.0.0.1, and through DNS rebinding
(``evil.example`` resolving to 127.0.0.1) even read the answers. So:

- a request whose ``Host`` is not one of the server's own names (``127.0.0.1``,
  ``localhost``, ``[::1]``, with its port, plus any given with ``--allowed-host``) is
  refused with 403;
- a state-changing request (the push) must say ``application/json`` or
  ``application/x-protobuf``, which a cross-site simple request cannot, else 415; and one
  carrying a foreign ``Origin`` is refused with 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
PUSH_TYPES = ("application/json", "application/x-protobuf")
STATE_CHANGING = ("/loki/api/v1/push", "/api/prom/push")

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


class RequestGuard:
    """ASGI middleware applying the Host, Origin and Content-Type rules above.

    ``allowed_hosts`` None skips the Host check (an app served in-process, with no socket
    a browser could reach, as in tests); ``serve`` always passes the loopback names."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None = None) -> None:
        self.app = app
        self.names = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    def _host_ok(self, host: str, port: int | None) -> bool:
        assert self.names is not None
        host = host.strip().lower()
        if host in self.names:  # given with a port, or a name allowed on any port
            return port in (None, 80) or ":" in host.rsplit("]", 1)[-1]
        name, sep, p = host.rpartition(":")
        if not sep or "]" in p:
            return False
        return name in self.names and p.isdigit() and (port is None or int(p) == port)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server") or (None, None)
        port = server[1] if len(server) > 1 else None
        if self.names is not None:
            host = _header(scope, b"host") or ""
            if not self._host_ok(host, port):
                await _refuse(send, 403, (
                    f"Host header {host!r} is not one of this server's names "
                    f"({', '.join(sorted(self.names))}); refusing it (DNS rebinding "
                    "protection). Start the server with --allowed-host NAME to allow another."
                ))
                return
        if scope["method"] == "POST" and scope["path"] in STATE_CHANGING:
            ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if ctype not in PUSH_TYPES:
                await _refuse(send, 415, (
                    f"unsupported Content-Type {ctype or '(none)'!r} for a push: send "
                    "application/json or snappy-compressed application/x-protobuf"
                ))
                return
            origin = _header(scope, b"origin")
            if origin is not None and self.names is not None and not self._origin_ok(origin, port):
                await _refuse(send, 403, f"cross-origin push from {origin!r} refused")
                return
        await self.app(scope, receive, send)

    def _origin_ok(self, origin: str, port: int | None) -> bool:
        if origin == "null":
            return False
        _, _, hostport = origin.partition("://")
        return self._host_ok(hostport, port)


async def _refuse(send: Any, status: int, message: str) -> None:
    body = message.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
