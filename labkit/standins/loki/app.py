"""Build and serve the stand-in (``create_app`` for tests, ``serve`` for the CLI)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from labkit.config import LabConfig
from labkit.standins.loki.guard import LOOPBACK_NAMES, RequestGuard
from labkit.standins.loki.limits import QueryLimits
from labkit.standins.loki.pushcheck import PushLimits
from labkit.standins.loki.server import LokiAPI
from labkit.standins.loki.store import Store


def create_app(
    data_dir: str | os.PathLike[str], *, fsync: bool = False,
    allowed_hosts: Sequence[str] | None = None, limits: QueryLimits | None = None,
    push_limits: PushLimits | None = None,
) -> Starlette:
    """A Starlette app speaking Loki's HTTP API, storing under ``data_dir``.

    ``fsync``: every acknowledged push reaches the disk, not only the OS. ``allowed_hosts``:
    the Host names accepted (None: no Host check, for an app served in-process)."""
    store = Store(data_dir, fsync=fsync, limits=push_limits)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(
        routes=LokiAPI(store, limits).routes(),
        lifespan=lifespan,
        middleware=[Middleware(RequestGuard, allowed_hosts=allowed_hosts)],  # type: ignore[arg-type]
    )
    app.state.store = store
    return app


def serve(
    host: str = "127.0.0.1", port: int = 3100, data_dir: str | os.PathLike[str] = "loki-data",
    *, fsync: bool = False, allowed_hosts: Sequence[str] = (), limits: QueryLimits | None = None,
) -> None:
    """Run the server until interrupted; the Host check accepts the loopback names, the bind
    address (for a wildcard: this machine's name and addresses), ``allowed_hosts`` and the
    comma-separated names of ``LABKIT_LOKI_ALLOWED_HOSTS``."""
    import uvicorn

    names = [*LOOPBACK_NAMES, *allowed_hosts, *LabConfig.from_env().loki_allowed_hosts]
    binds = _machine_addresses() if host in ("0.0.0.0", "::", "") else [host]
    names += [f"[{a}]" if ":" in a else a for a in binds]
    app = create_app(data_dir, fsync=fsync, allowed_hosts=names, limits=limits)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _machine_addresses() -> list[str]:
    """This machine's host names and interface addresses (a wildcard bind answers on all)."""
    import socket

    import psutil

    out = [socket.gethostname(), socket.getfqdn()]
    for addrs in psutil.net_if_addrs().values():
        out += [a.address.split("%")[0] for a in addrs
                if a.family in (socket.AF_INET, socket.AF_INET6)]
    return out
