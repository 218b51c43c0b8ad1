"""Durable storage of the notifications Alertmanager sends: one SQLite row per alert."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["NotificationStore", "PayloadError", "parse_payload"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at   TEXT NOT NULL,
    receiver      TEXT NOT NULL,
    group_status  TEXT NOT NULL,
    status        TEXT NOT NULL,
    alertname     TEXT NOT NULL,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    starts_at     TEXT,
    ends_at       TEXT,
    fingerprint   TEXT,
    group_key     TEXT
);
CREATE INDEX IF NOT EXISTS notifications_receiver ON notifications (receiver, alertname);
"""

_COLUMNS = (
    "id", "received_at", "receiver", "group_status", "status", "alertname",
    "labels", "annotations", "starts_at", "ends_at", "fingerprint", "group_key",
)


class PayloadError(ValueError):
    """The webhook body is not an Alertmanager notification; the message says what is wrong."""


def _mapping(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{where} must be an object of string values")
    return value


def _text(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"{where} must be a string, got {type(value).__name__}")
    return value


def parse_payload(payload: Any, receiver: str | None) -> list[dict[str, Any]]:
    """Rows to store from an Alertmanager webhook payload (version "4")."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object (Alertmanager's webhook payload)")
    version = payload.get("version", "4")
    if version != "4":
        raise PayloadError(f"unsupported payload version {version!r}: Alertmanager sends \"4\"")
    receiver = receiver or payload.get("receiver")
    if not isinstance(receiver, str) or not receiver:
        raise PayloadError("no receiver: post to /hook/<receiver> or set 'receiver' in the body")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError("'alerts' must be a non-empty list of alerts")
    group_status = _text(payload.get("status"), "status") or ""
    group_key = _text(payload.get("groupKey"), "groupKey")
    rows = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise PayloadError(f"alerts[{i}] must be an object")
        labels = _mapping(alert.get("labels"), f"alerts[{i}].labels")
        annotations = _mapping(alert.get("annotations", {}), f"alerts[{i}].annotations")
        status = alert.get("status", group_status)
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{i}].status must be 'firing' or 'resolved', got {status!r}")
        rows.append({
            "receiver": receiver,
            "group_status": group_status or status,
            "status": status,
            "alertname": labels.get("alertname", ""),
            "labels": labels,
            "annotations": annotations,
            "starts_at": _text(alert.get("startsAt"), f"alerts[{i}].startsAt"),
            "ends_at": _text(alert.get("endsAt"), f"alerts[{i}].endsAt"),
            "fingerprint": _text(alert.get("fingerprint"), f"alerts[{i}].fingerprint"),
            "group_key": group_key,
        })
    return rows


class NotificationStore:
    """An SQLite file of notifications, safe to share between request threads."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # on disk before we answer 200
        self._db.executescript(_SCHEMA)

    def add(self, rows: list[dict[str, Any]]) -> int:
        """Store the rows in one transaction, committed on return; the count stored."""
        now = datetime.now(UTC).isoformat()
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO notifications (received_at, receiver, group_status, status, "
                "alertname, labels, annotations, starts_at, ends_at, fingerprint, group_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (now, r["receiver"], r["group_status"], r["status"], r["alertname"],
                     json.dumps(r["labels"], sort_keys=True),
                     json.dumps(r["annotations"], sort_keys=True),
                     r["starts_at"], r["ends_at"], r["fingerprint"], r["group_key"])
                    for r in rows
                ],
            )
        return len(rows)

    def query(
        self, *, receiver: str | None = None, alertname: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Stored notifications, oldest first, optionally filtered."""
        where, args = [], []
        for column, value in (("receiver", receiver), ("alertname", alertname), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM notifications"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        out = []
        for row in rows:
            record = dict(zip(_COLUMNS, row, strict=True))
            record["labels"] = json.loads(record["labels"])
            record["annotations"] = json.loads(record["annotations"])
            out.append(record)
        return out

    def close(self) -> None:
        """Close the database; safe to call twice."""
        with self._lock:
            self._db.close()
