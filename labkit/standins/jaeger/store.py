"""Span storage on disk: SQLite in WAL mode, one committed transaction per export.

Each span keeps its rendered Jaeger JSON beside a few index columns, so a search
reads an index and splices stored text instead of re-translating OTLP. A span
is answered with 200 only after its transaction commits with ``synchronous=FULL``,
so an accepted span survives a crash or a restart.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from .model import SpanRow
from .search import TraceQuery, span_matches_tags

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS processes (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_id TEXT,
    service TEXT NOT NULL,
    operation TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    process_id INTEGER NOT NULL,
    span_json TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS spans_by_service_start ON spans (service, start_us);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_us);
CREATE TABLE IF NOT EXISTS operations (
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (service, name, kind)
) WITHOUT ROWID;
"""


class StoredSpan(NamedTuple):
    """One span as stored: its Jaeger JSON, its process's JSON, its id and its parent's."""

    span_json: str
    process: str
    span_id: str
    parent_id: str | None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class Store:
    """The stand-in's span store in ``data_dir/traces.sqlite``; keeps at most ``max_traces``."""

    def __init__(self, data_dir: str | Path, max_traces: int | None = None) -> None:
        if max_traces is not None and max_traces < 1:
            raise ValueError(f"max_traces must be at least 1, got {max_traces}")
        self.path = Path(data_dir) / "traces.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_traces = max_traces
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = _connect(self.path)
        self._writer.executescript(_SCHEMA)
        self._process_ids: dict[str, int] = {}
        self._trace_count = self._writer.execute("SELECT count(*) FROM traces").fetchone()[0]

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.path)
            self._readers.append(conn)
        return conn

    def _process_id(self, body: str) -> int:
        pid = self._process_ids.get(body)
        if pid is None:
            self._writer.execute("INSERT OR IGNORE INTO processes (body) VALUES (?)", (body,))
            pid = self._writer.execute(
                "SELECT id FROM processes WHERE body = ?", (body,)
            ).fetchone()[0]
            self._process_ids[body] = pid
        return pid

    def write(self, rows: Iterable[SpanRow]) -> int:
        """Store spans in one committed transaction; returns how many were written."""
        rows = list(rows)
        if not rows:
            return 0
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                span_values = [
                    (
                        r.trace_id,
                        r.span_id,
                        r.parent_id,
                        r.service,
                        r.operation,
                        r.kind,
                        r.start_us,
                        r.duration_us,
                        self._process_id(r.process),
                        r.span_json,
                    )
                    for r in rows
                ]
                # A retried export resends the same spans: the later copy wins.
                conn.executemany(
                    "INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?,?,?,?)", span_values
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO operations VALUES (?,?,?)",
                    {(r.service, r.operation, r.kind) for r in rows},
                )
                before = conn.total_changes
                conn.executemany(
                    "INSERT OR IGNORE INTO traces (trace_id) VALUES (?)",
                    [(t,) for t in dict.fromkeys(r.trace_id for r in rows)],
                )
                added = conn.total_changes - before
                if self.max_traces is not None and self._trace_count + added > self.max_traces:
                    added -= self._evict(self._trace_count + added - self.max_traces)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._trace_count += added
        return len(rows)

    def _evict(self, count: int) -> int:
        """Drop the ``count`` traces that arrived first (inside the open transaction)."""
        conn = self._writer
        old = [
            r[0] for r in conn.execute("SELECT trace_id FROM traces ORDER BY seq LIMIT ?", (count,))
        ]
        conn.executemany("DELETE FROM spans WHERE trace_id = ?", [(t,) for t in old])
        conn.executemany("DELETE FROM traces WHERE trace_id = ?", [(t,) for t in old])
        return len(old)

    def trace_count(self) -> int:
        return self._trace_count

    def services(self) -> list[str]:
        rows = self._reader().execute("SELECT DISTINCT service FROM operations ORDER BY service")
        return [r[0] for r in rows]

    def operations(self, service: str, kind: str = "") -> list[tuple[str, str]]:
        """(name, kind) pairs of a service, optionally of one span kind."""
        sql, args = "SELECT name, kind FROM operations WHERE service = ?", [service]
        if kind:
            sql, args = sql + " AND kind = ?", [service, kind]
        return [(r[0], r[1]) for r in self._reader().execute(sql + " ORDER BY name, kind", args)]

    def find_trace_ids(self, q: TraceQuery) -> list[str]:
        """Ids of the most recent traces holding a span that matches every condition."""
        where = ["service = ?", "start_us >= ?", "start_us <= ?"]
        args: list[object] = [q.service, q.start_us, q.end_us]
        if q.operation:
            where.append("operation = ?")
            args.append(q.operation)
        if q.min_duration_us:
            where.append("duration_us >= ?")
            args.append(q.min_duration_us)
        if q.max_duration_us:
            where.append("duration_us <= ?")
            args.append(q.max_duration_us)
        columns = "s.trace_id, s.span_json, p.body" if q.tags else "s.trace_id"
        sql = (
            f"SELECT {columns} FROM spans s JOIN processes p ON p.id = s.process_id "
            f"WHERE {' AND '.join('s.' + w for w in where)} ORDER BY s.start_us DESC"
        )
        found: dict[str, None] = {}
        for row in self._reader().execute(sql, args):
            if row[0] in found or (q.tags and not span_matches_tags(row[1], row[2], q.tags)):
                continue
            found[row[0]] = None
            if len(found) >= q.limit:
                break
        return list(found)

    def spans_of(self, trace_ids: list[str]) -> dict[str, list[StoredSpan]]:
        """The spans of each trace, in start order; absent traces omitted."""
        out: dict[str, list[StoredSpan]] = {t: [] for t in trace_ids}
        conn = self._reader()
        for start in range(0, len(trace_ids), 500):
            chunk = trace_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = (
                "SELECT s.trace_id, s.span_json, p.body, s.span_id, s.parent_id "
                "FROM spans s JOIN processes p "
                f"ON p.id = s.process_id WHERE s.trace_id IN ({marks}) "
                "ORDER BY s.start_us, s.span_id"
            )
            for trace_id, *stored in conn.execute(sql, chunk):
                out[trace_id].append(StoredSpan(*stored))
        return {t: spans for t, spans in out.items() if spans}

    def dependencies(self, start_us: int, end_us: int) -> Iterator[tuple[str, str, int]]:
        """(parent service, child service, calls) for cross-service parent/child spans."""
        sql = (
            "SELECT p.service, c.service, count(*) FROM spans c JOIN spans p "
            "ON p.trace_id = c.trace_id AND p.span_id = c.parent_id "
            "WHERE c.start_us >= ? AND c.start_us <= ? AND p.service != c.service "
            "GROUP BY p.service, c.service ORDER BY p.service, c.service"
        )
        yield from self._reader().execute(sql, (start_us, end_us))

    def close(self) -> None:
        """Close the writer connection; safe to call twice."""
        with self._write_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._local = threading.local()
            self._writer.close()
