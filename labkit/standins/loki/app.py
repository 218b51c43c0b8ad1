"""Build and serve the stand-in (``create_app`` for tests, ``serve`` for the CLI)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from labkit.standins.loki.server import LokiAPI
from labkit.standins.loki.store import Store


def create_app(data_dir: str | os.PathLike[str]) -> Starlette:
    """A Starlette app speaking Loki's HTTP API, storing under ``data_dir``."""
    store = Store(data_dir)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(routes=LokiAPI(store).routes(), lifespan=lifespan)
    app.state.store = store
    return app


def serve(
    host: str = "127.0.0.1", port: int = 3100, data_dir: str | os.PathLike[str] = "loki-data"
) -> None:
    """Run the server until interrupted."""
    import uvicorn

    uvicorn.run(create_app(data_dir), host=host, port=port, log_level="warning", access_log=False)
