"""Per-request usage records for cost tracking, written on a background thread.

The table lives in :mod:`labkit.usage_db` (cost reads it without loading the
gateway). Rows are written in batches so a slow database never delays a
response; a batch that fails is retried row by row, so one bad row cannot take
its neighbours with it, and a row that still fails is logged with all its
values (``Usage row lost``), never dropped silently.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from labkit.usage_db import USAGE_TABLE, make_engine, metadata

__all__ = ["USAGE_TABLE", "UsageRecorder", "make_engine"]

log = logging.getLogger("llm-api")

BATCH_WAIT_S = 0.2
ROW_ATTEMPTS = 3  # a row's tries on its own after its batch failed (transient errors pass)


class UsageRecorder:
    """Queues usage rows and writes them in batches on a daemon thread.

    ``written`` and ``lost`` count rows stored and rows given up on (each logged).
    """

    def __init__(self, url: str, *, retry_wait_s: float = 0.5) -> None:
        self.engine = make_engine(url)
        metadata.create_all(self.engine)
        self.retry_wait_s = retry_wait_s
        self.written = 0
        self.lost = 0
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
                self.write(batch)
            if item is None:
                return

    def write(self, batch: list[dict[str, Any]]) -> None:
        """Store a batch in one commit; if that fails, each row on its own."""
        try:
            with self.engine.begin() as conn:
                conn.execute(USAGE_TABLE.insert(), batch)
            self.written += len(batch)
            return
        except sa.exc.SQLAlchemyError as exc:
            log.warning("Usage batch failed; retrying its rows one by one", extra={
                "error_type": "usage_db", "rows": len(batch), "exception": repr(exc)})
        for row in batch:
            self._write_row(row)

    def _write_row(self, row: dict[str, Any]) -> None:
        error: Exception | None = None
        for attempt in range(ROW_ATTEMPTS):
            if attempt:
                time.sleep(self.retry_wait_s * attempt)
            try:
                with self.engine.begin() as conn:
                    conn.execute(USAGE_TABLE.insert(), [row])
                self.written += 1
                return
            except sa.exc.SQLAlchemyError as exc:
                error = exc
        self.lost += 1
        log.error("Usage row lost", extra={
            "error_type": "usage_db", "exception": repr(error),
            "usage_row": {k: (v.isoformat() if isinstance(v, datetime) else v)
                          for k, v in row.items()}})

    def close(self) -> None:
        """Flush what is queued and stop the writer; safe to call twice."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
        self.engine.dispose()
