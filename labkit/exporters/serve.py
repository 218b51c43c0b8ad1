"""Serve one prometheus_client registry on a loopback port until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["serve_forever"]


def serve_forever(registry: CollectorRegistry, host: str, port: int) -> None:
    """Expose ``registry`` at ``http://host:port/metrics``; returns on SIGTERM/SIGINT."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"serving metrics on http://{host}:{port}/metrics", flush=True)
    stop.wait()
    server.shutdown()
    thread.join(timeout=5)
