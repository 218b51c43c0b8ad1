"""Structured JSON logs for the gateway, one object per line (python-json-logger).

Fields follow the seed's JSONFormatter: timestamp (RFC3339 UTC with
microseconds), level, message, module, function, line, then whatever the call
passes in ``extra`` (request_id, user_id, model, duration_ms, prompt_tokens,
completion_tokens, tokens, status, error_type, exception). trace_id and span_id
of the current OpenTelemetry span are added to every line.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

__all__ = ["JSON_FIELDS", "LabJsonFormatter", "setup_logging"]

JSON_FIELDS = "%(asctime)s %(levelname)s %(message)s %(module)s %(funcName)s %(lineno)d"
# exc_info is python-json-logger's name for the traceback; the seed's formatter says exception.
RENAMES = {"asctime": "timestamp", "levelname": "level", "funcName": "function",
           "lineno": "line", "exc_info": "exception"}


class LabJsonFormatter(JsonFormatter):
    """JSON lines with an RFC3339 UTC timestamp, e.g. ``2026-11-29T03:30:45.123456Z``."""

    def __init__(self) -> None:
        super().__init__(JSON_FIELDS, rename_fields=RENAMES, json_ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = datetime.fromtimestamp(record.created, UTC)
        return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


class TraceContextFilter(logging.Filter):
    """Put the current trace_id and span_id on every record (null outside a span)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if not hasattr(record, "trace_id"):
            record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
        if not hasattr(record, "span_id"):
            record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
        return True


def setup_logging(log_file: Path | None, *, max_bytes: int = 20_000_000,
                  name: str = "llm-api", stdout: bool = True) -> logging.Logger:
    """The ``llm-api`` logger, writing JSON lines to stdout and to ``log_file`` (rotated)."""
    logger = logging.getLogger(name)
    for old in logger.handlers:
        old.close()  # a second setup (tests, reloads) must not leak the old file
    logger.handlers.clear()
    logger.filters.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addFilter(TraceContextFilter())
    formatter = LabJsonFormatter()
    handlers: list[logging.Handler] = []
    if stdout:
        handlers.append(logging.StreamHandler(sys.stdout))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=5, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger
