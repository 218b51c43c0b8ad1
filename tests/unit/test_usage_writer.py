"""The usage writer: a failed batch is retried row by row; no row is lost silently."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from labkit.gateway.usage import UsageRecorder

GOOD: dict[str, Any] = {"endpoint": "/v1/chat/completions", "status": 200, "prompt_tokens": 1,
                        "completion_tokens": 2, "total_tokens": 3, "duration_ms": 1.0,
                        "model": "labkit-tiny", "user_id": None,
                        "created_at": datetime(2026, 1, 1)}


def stored(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT request_id FROM usage_logs ORDER BY id")]


def test_a_poison_row_does_not_take_its_batch_with_it(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """One row the database refuses is logged with its values; the others are stored."""
    logger = logging.getLogger("llm-api")
    logger.addHandler(caplog.handler)  # the gateway's logger does not propagate
    try:
        recorder = UsageRecorder(f"sqlite:///{tmp_path / 'u.db'}", retry_wait_s=0.0)
        recorder.write([{**GOOD, "request_id": "a"}, {**GOOD, "request_id": "bad", "model": None},
                        {**GOOD, "request_id": "c"}])
        recorder.close()
    finally:
        logger.removeHandler(caplog.handler)
    assert stored(tmp_path / "u.db") == ["a", "c"]
    assert (recorder.written, recorder.lost) == (2, 1)
    lost = [r for r in caplog.records if r.getMessage() == "Usage row lost"]
    assert len(lost) == 1 and lost[0].usage_row["request_id"] == "bad"  # type: ignore[attr-defined]
    assert "Usage batch failed" in caplog.text


def test_queued_rows_are_flushed_on_close(tmp_path: Path) -> None:
    """Rows recorded just before close() are written, in order."""
    recorder = UsageRecorder(f"sqlite:///{tmp_path / 'u.db'}")
    for i in range(5):
        recorder.record(**{**GOOD, "request_id": f"r{i}"})
    recorder.close()
    recorder.close()
    assert stored(tmp_path / "u.db") == [f"r{i}" for i in range(5)]


def test_cost_loads_without_the_gateway_stack() -> None:
    """`import labkit.cost` (a notebook's cost report) does not load FastAPI or OpenTelemetry."""
    code = ("import sys, labkit.cost\n"
            "heavy = sorted(m for m in ('fastapi', 'starlette', 'opentelemetry.sdk', "
            "'labkit.gateway') if m in sys.modules)\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == ""
