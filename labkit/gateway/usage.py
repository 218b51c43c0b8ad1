"""Per-request usage records for cost tracking, in SQLite by default or PostgreSQL.

The table is the one the seed's CostTracker queries (``usage_logs`` with
``model``, ``total_tokens`` and ``created_at``); the same SQL runs on both
databases through SQLAlchemy Core. Writes happen on a background thread so a
slow database never delays a response.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["USAGE_TABLE", "UsageRecorder", "make_engine"]

log = logging.getLogger("llm-api")

BATCH_WAIT_S = 0.2

metadata = sa.MetaData()
USAGE_TABLE = sa.Table(
    "usage_logs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(128)),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("endpoint", sa.String(128)),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("total_tokens", sa.Integer, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
)


def make_engine(url: str) -> sa.Engine:
    """An engine for ``sqlite:///path`` or ``postgresql://...``, PostgreSQL through psycopg 3.

    SQLAlchemy 2.0 maps a bare ``postgresql://`` to psycopg2, which the ``postgres`` extra
    does not install, and refuses Heroku-style ``postgres://``: both go to psycopg here.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        url = f"postgresql+psycopg://{rest}"
    try:
        engine = sa.create_engine(url)
    except ModuleNotFoundError as exc:
        if scheme.startswith("postgres"):
            raise ModuleNotFoundError(
                f"a PostgreSQL usage database needs the 'psycopg' package ({exc}): "
                "pip install 'labkit[postgres]'", name=exc.name) from exc
        raise
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the cost notebook read while the gateway writes; synchronous=NORMAL skips
    # the fsync on every commit (a power cut may lose the last rows, never corrupt them),
    # which otherwise costs the gateway latency on every request.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class UsageRecorder:
    """Queues usage rows and writes them in batches on a daemon thread."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        metadata.create_all(self.engine)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self._thread.start()

    def record(self, **row: Any) -> None:
        row.setdefault("created_at", datetime.now(UTC).replace(tzinfo=None))
        self._queue.put(row)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [] if item is None else [item]
            if item is not None:
                time.sleep(BATCH_WAIT_S)  # let a few more rows arrive: one commit for all
            while not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    item = None
                else:
                    batch.append(nxt)
            if batch:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(USAGE_TABLE.insert(), batch)
                except sa.exc.SQLAlchemyError as exc:
                    log.error("Usage write failed", extra={"error_type": "usage_db",
                                                           "exception": repr(exc)})
            if item is None:
                return

    def close(self) -> None:
        """Flush what is queued and stop the writer; safe to call twice."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
        self.engine.dispose()
