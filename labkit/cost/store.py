"""Read the gateway's usage table (``usage_logs``) through SQLAlchemy, SQLite or PostgreSQL.

The seed queries ``WHERE DATE(created_at) = $1``: ``$1`` is asyncpg's placeholder (SQLite
wants ``?``, psycopg ``%s``), and ``DATE(column)`` hides the column from its index. Here
every query is SQLAlchemy Core with bound parameters and a half-open time range,
``created_at >= :start AND created_at < :end``, which compiles to each driver's own
placeholders and uses the index on both databases.

``created_at`` is stored as naive UTC; every time this module takes (unix seconds, an
aware datetime, or a naive one meaning UTC) is converted to that.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from labkit.usage_db import USAGE_TABLE, make_engine

if TYPE_CHECKING:
    from labkit.config import LabConfig

__all__ = ["GROUPS", "UsageStore", "to_utc_naive", "usage_db_url"]

TimeArg = datetime | date | float | int | str | None
GROUPS = ("model", "user_id", "endpoint", "status")  # what usage can be grouped by
COLUMNS = ["requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
           "duration_ms"]


def usage_db_url(config: LabConfig | None = None) -> str:
    """The local lab's usage database: ``sqlite:///<run_dir>/data/gateway/usage.db``."""
    from labkit.config import LabConfig

    config = config or LabConfig.from_env()
    return f"sqlite:///{config.run_dir / 'data' / 'gateway' / 'usage.db'}"


def to_utc_naive(value: TimeArg) -> datetime | None:
    """Unix seconds, a datetime (naive = UTC) or an ISO string as the table's naive UTC."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    moment: datetime | date = pd.Timestamp(value).to_pydatetime() if isinstance(value, str) \
        else value
    if not isinstance(moment, datetime):  # a date: its midnight
        return datetime(moment.year, moment.month, moment.day)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class UsageStore:
    """Queries on the usage table; ``url`` is any SQLAlchemy URL the gateway accepts.

    >>> store = UsageStore(usage_db_url())              # doctest: +SKIP
    >>> store.rows(since="2026-01-01").head()           # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, *, engine: sa.Engine | None = None) -> None:
        self.url = url or usage_db_url()
        self.engine = engine if engine is not None else make_engine(self.url)

    def __repr__(self) -> str:
        return f"UsageStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def _window(self, stmt: Any, since: TimeArg, until: TimeArg, model: str | None) -> Any:
        t = USAGE_TABLE
        start, end = to_utc_naive(since), to_utc_naive(until)
        if start is not None:
            stmt = stmt.where(t.c.created_at >= start)
        if end is not None:
            stmt = stmt.where(t.c.created_at < end)
        if model is not None:
            stmt = stmt.where(t.c.model == model)
        return stmt

    def rows_query(self, *, since: TimeArg = None, until: TimeArg = None,
                   model: str | None = None) -> sa.Select[Any]:
        """The SELECT behind :meth:`rows` (compile it to see each database's SQL)."""
        stmt = sa.select(USAGE_TABLE).order_by(USAGE_TABLE.c.created_at, USAGE_TABLE.c.id)
        return self._window(stmt, since, until, model)  # type: ignore[no-any-return]

    def aggregate_query(self, by: tuple[str, ...] = ("model",), *, since: TimeArg = None,
                        until: TimeArg = None, model: str | None = None) -> sa.Select[Any]:
        """SELECT by..., count, errors, token sums ... GROUP BY by..., with bound parameters."""
        unknown = [g for g in by if g not in GROUPS]
        if unknown:
            raise ValueError(f"cannot group usage by {unknown}; choose from {', '.join(GROUPS)}")
        t = USAGE_TABLE
        keys = [t.c[g] for g in by]
        stmt = sa.select(
            *keys,
            sa.func.count().label("requests"),
            sa.func.sum(sa.case((t.c.status >= 400, sa.literal_column("1")),
                                else_=sa.literal_column("0"))).label("errors"),
            *(sa.func.sum(t.c[c]).label(c) for c in COLUMNS[2:]),
        ).group_by(*keys).order_by(*keys)
        return self._window(stmt, since, until, model)  # type: ignore[no-any-return]

    def rows(self, *, since: TimeArg = None, until: TimeArg = None,
             model: str | None = None) -> pd.DataFrame:
        """Every usage row in ``[since, until)``, oldest first, one column per table column."""
        with self.engine.connect() as conn:
            result = conn.execute(self.rows_query(since=since, until=until, model=model))
            frame = pd.DataFrame(result.mappings().all(), columns=list(result.keys()))
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        return frame

    def totals(self, by: tuple[str, ...] = ("model",), *, since: TimeArg = None,
               until: TimeArg = None, model: str | None = None) -> pd.DataFrame:
        """Requests, errors and token sums per group (the database does the summing)."""
        stmt = self.aggregate_query(by, since=since, until=until, model=model)
        with self.engine.connect() as conn:
            result = conn.execute(stmt)
            frame = pd.DataFrame(result.mappings().all(), columns=list(result.keys()))
        for col in COLUMNS:
            frame[col] = pd.to_numeric(frame[col]).fillna(0)
        for col in COLUMNS[:-1]:
            frame[col] = frame[col].astype("int64")
        return frame

    def span(self) -> tuple[datetime | None, datetime | None]:
        """The first and last ``created_at`` in the table (naive UTC)."""
        t = USAGE_TABLE
        with self.engine.connect() as conn:
            first, last = conn.execute(sa.select(sa.func.min(t.c.created_at),
                                                 sa.func.max(t.c.created_at))).one()
        return first, last


def compiled_sql(stmt: sa.Select[Any], dialect: str = "sqlite") -> str:
    """The SQL text a statement becomes on ``sqlite`` or ``postgresql`` (placeholders shown)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialects = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect(paramstyle="format")}
    if dialect not in dialects:
        raise ValueError(f"dialect must be one of {sorted(dialects)}, got {dialect!r}")
    return str(stmt.compile(dialect=dialects[dialect]))
