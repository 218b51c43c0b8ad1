"""The notification sink: every lab receiver's webhook lands here and is stored.

Run it as ``python -m labkit.standins.sink --port 9097 --data-dir DIR``.

    POST /hook/<receiver>   Alertmanager webhook (payload version "4"); 200 once stored
    GET  /notifications     stored notifications as JSON (?receiver=&alertname=&status=)
    GET  /health            200 when up
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from labkit.config import LabConfig
from labkit.serving import BadBody, LoopbackGuard, allowed_hosts, parse_json, read_body
from labkit.standins.sink.store import NotificationStore, PayloadError, parse_payload

__all__ = ["create_app", "main"]

DB_NAME = "notifications.sqlite3"
MAX_BODY_BYTES = 4 * 1024 * 1024  # Alertmanager batches alerts; thousands fit in 4 MiB


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "error": message}, status_code=status)


def _error_body(status: int, message: str) -> tuple[bytes, str]:
    return bytes(_error(status, message).body), "application/json"


def create_app(data_dir: Path, host: str = "127.0.0.1") -> FastAPI:
    """The sink's ASGI app, storing into ``data_dir/notifications.sqlite3``.

    It answers only to its own Host names (``host`` and loopback) and takes only
    ``application/json`` POSTs, so a web page cannot forge notifications.
    """
    store = NotificationStore(Path(data_dir) / DB_NAME)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="labkit notification sink", docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.store = store
    app.add_middleware(LoopbackGuard, hosts=allowed_hosts(host), error_body=_error_body)

    async def receive(request: Request, receiver: str | None) -> JSONResponse:
        try:
            payload = parse_json(await read_body(request, MAX_BODY_BYTES))
        except BadBody as exc:
            return _error(exc.status, f"{exc}; send Alertmanager's webhook payload")
        try:
            rows = parse_payload(payload, receiver)
        except PayloadError as exc:
            return _error(400, str(exc))
        stored = store.add(rows)  # committed before we answer
        return JSONResponse({"status": "success", "stored": stored})

    @app.post("/hook/{receiver}")
    async def hook_receiver(receiver: str, request: Request) -> JSONResponse:
        return await receive(request, receiver)

    @app.post("/hook")
    async def hook(request: Request) -> JSONResponse:
        return await receive(request, None)

    @app.get("/notifications")
    def notifications(
        receiver: str | None = None, alertname: str | None = None, status: str | None = None
    ) -> Any:
        if status is not None and status not in ("firing", "resolved"):
            return _error(400, f"status must be 'firing' or 'resolved', got {status!r}")
        return store.query(receiver=receiver, alertname=alertname, status=status)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the sink until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m labkit.standins.sink", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9097, help="port (default 9097)")
    parser.add_argument("--data-dir", type=Path,
                        default=LabConfig.from_env().sink_data_dir,
                        help="where notifications.sqlite3 lives ($LABKIT_SINK_DATA_DIR, "
                             "default ./sink-data)")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.data_dir, args.host), host=args.host, port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
