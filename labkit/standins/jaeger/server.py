"""Run the stand-in: two uvicorn servers (OTLP and query) on one event loop in a thread.

>>> with JaegerStandin("/tmp/jaeger-data", otlp_port=0, query_port=0) as jaeger:  # doctest: +SKIP
...     print(jaeger.otlp_url, jaeger.query_url)
"""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn

from labkit.errors import PortInUse, ServiceStartError

from .app import create_otlp_app, create_query_app
from .store import Store

__all__ = ["JaegerStandin"]

SERVICE = "jaeger"


def _bind(host: str, port: int) -> socket.socket:
    """Bind now, so a taken port fails loudly here and port 0 gets a real number."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it Nagle's algorithm adds ~40 ms to small keep-alive responses.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"jaeger stand-in cannot listen on {host}:{port}: the port is in use. "
                "Stop what holds it or choose another port.",
                service=SERVICE,
                port=port,
            ) from exc
        raise ServiceStartError(
            f"jaeger stand-in cannot listen on {host}:{port}: {exc}", service=SERVICE
        ) from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (uvicorn[standard] brings it), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class JaegerStandin:
    """labkit's Jaeger-compatible server: OTLP/HTTP in, Jaeger query API out, spans on disk."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        otlp_port: int = 4318,
        query_port: int = 16686,
        max_traces: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.otlp_port = otlp_port
        self.query_port = query_port
        self.max_traces = max_traces
        self.store: Store | None = None
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def otlp_url(self) -> str:
        return f"http://{self._url_host()}:{self.otlp_port}"

    @property
    def query_url(self) -> str:
        return f"http://{self._url_host()}:{self.query_port}"

    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def start(self, timeout: float = 30.0) -> JaegerStandin:
        """Open the store, bind both ports and serve in a background thread."""
        if self._thread is not None:
            return self
        socks = [_bind(self.host, self.otlp_port)]
        try:
            socks.append(_bind(self.host, self.query_port))
            self.store = Store(self.data_dir, self.max_traces)
        except BaseException:
            for s in socks:
                s.close()
            raise
        self.otlp_port, self.query_port = (s.getsockname()[1] for s in socks)
        apps = [create_otlp_app(self.store, self.host), create_query_app(self.store, self.host)]
        self._servers = [
            uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_level="warning",
                    access_log=False,
                    lifespan="off",
                    timeout_graceful_shutdown=2,
                )
            )
            for app in apps
        ]
        self._thread = threading.Thread(
            target=self._run, args=(socks,), name="jaeger-standin", daemon=True
        )
        self._thread.start()
        ready = threading.Event()

        def poll() -> None:
            while self._thread is not None and self._thread.is_alive():
                if all(s.started for s in self._servers):
                    ready.set()
                    return
                ready.wait(0.02)

        poll_thread = threading.Thread(target=poll, daemon=True)
        poll_thread.start()
        if not ready.wait(timeout) or self._failure is not None:
            failure = self._failure
            self.stop()
            raise ServiceStartError(
                f"jaeger stand-in did not start within {timeout}s: {failure}", service=SERVICE
            ) from failure
        return self

    def _run(self, socks: list[socket.socket]) -> None:
        async def main() -> None:
            await asyncio.gather(
                *(srv.serve(sockets=[sock]) for srv, sock in zip(self._servers, socks, strict=True))
            )

        try:
            loop = _new_loop()
            try:
                loop.run_until_complete(main())
            finally:
                loop.close()
        except (
            BaseException
        ) as exc:  # uvicorn sys.exit()s on some start failures; report, not crash
            self._failure = exc
        finally:
            for s in socks:
                s.close()

    def stop(self) -> None:
        """Stop serving and close the store; safe to call twice."""
        for srv in self._servers:
            srv.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
