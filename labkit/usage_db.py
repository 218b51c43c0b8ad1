"""The usage table (``usage_logs``) and its engine: what the gateway writes and cost reads.

Kept apart from both, so that ``import labkit.cost`` (a notebook's cost report)
loads SQLAlchemy only, not the gateway's FastAPI and OpenTelemetry. The table is
the one the seed's CostTracker queries (``model``, ``total_tokens``,
``created_at``); the same SQL runs on SQLite and PostgreSQL through SQLAlchemy Core.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["REQUEST_ID_CHARS", "USAGE_TABLE", "USER_ID_CHARS", "make_engine", "metadata"]

REQUEST_ID_CHARS = 64
USER_ID_CHARS = 128

metadata = sa.MetaData()
USAGE_TABLE = sa.Table(
    "usage_logs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("request_id", sa.String(REQUEST_ID_CHARS), nullable=False),
    sa.Column("user_id", sa.String(USER_ID_CHARS)),
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
