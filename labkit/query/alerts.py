"""Alerts into pandas: Prometheus's alerts and rules, Alertmanager's alerts and silences,
and the notification sink's record of what each receiver got.

Fetch functions take a base URL and return DataFrames; the ``*_to_frame`` parsers are
pure and take the decoded JSON, so they are tested on saved responses.

>>> prometheus_alerts("http://127.0.0.1:9090")            # doctest: +SKIP
       alertname    state  severity  ...  active_at                          value
0  HighErrorRate  pending  critical  ...  2025-01-01 10:00:02+00:00          0.31
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from labkit.durations import parse_duration
from labkit.errors import QueryError, QueryHTTPError
from labkit.query.http import ServiceClient

__all__ = [
    "alertmanager_alerts",
    "am_alerts_to_frame",
    "create_silence",
    "expire_silence",
    "notifications",
    "notifications_to_frame",
    "prom_alerts_to_frame",
    "prometheus_alerts",
    "rules",
    "rules_to_frame",
    "silence",
    "silences",
    "silences_to_frame",
]

TIMEOUT = 10.0
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not set"
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


# -- HTTP: through labkit.query.http, where httpx errors become labkit errors ---------------

def _request(service: str, base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    """One call to ``service``; the decoded JSON answer (None for an empty one)."""
    with ServiceClient(base_url, service=service, timeout=TIMEOUT) as client:
        return client.json(method, path, **kwargs)


def _prom_data(payload: Any, url: str) -> Any:
    if not isinstance(payload, dict) or payload.get("status") != "success":
        raise QueryError(
            f"not a successful Prometheus API response from {url}: {str(payload)[:200]}"
        )
    return payload["data"]


# -- parsing ----------------------------------------------------------------------------------

def _times(values: Sequence[Any]) -> pd.Series:
    cleaned = [None if v in (None, "", _GO_ZERO_TIME) else v for v in values]
    return pd.to_datetime(pd.Series(cleaned, dtype=object), utc=True, format="ISO8601")


def _frame(rows: list[dict[str, Any]], columns: list[str], times: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in times:
        frame[column] = _times(frame[column].tolist())
    return frame


PROM_ALERT_COLUMNS = ["alertname", "state", "severity", "labels", "annotations", "active_at",
                      "value"]


def prom_alerts_to_frame(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Prometheus ``/api/v1/alerts`` JSON → one row per pending or firing alert."""
    rows = [{
        "alertname": a["labels"].get("alertname", ""),
        "state": a["state"],
        "severity": a["labels"].get("severity"),
        "labels": a["labels"],
        "annotations": a.get("annotations", {}),
        "active_at": a.get("activeAt"),
        "value": float(a["value"]),
    } for a in _prom_data(payload, "/api/v1/alerts")["alerts"]]
    return _frame(rows, PROM_ALERT_COLUMNS, ["active_at"])


RULE_COLUMNS = ["group", "name", "type", "query", "for_seconds", "labels", "annotations", "state",
                "health", "last_error", "active_alerts", "last_evaluation", "file"]


def rules_to_frame(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Prometheus ``/api/v1/rules`` JSON → one row per rule (alerting and recording)."""
    rows = [{
        "group": group["name"],
        "name": rule["name"],
        "type": rule["type"],
        "query": rule["query"],
        "for_seconds": float(rule.get("duration", 0)),
        "labels": rule.get("labels") or {},
        "annotations": rule.get("annotations") or {},
        "state": rule.get("state"),  # inactive|pending|firing; missing for recording rules
        "health": rule.get("health"),
        "last_error": rule.get("lastError") or None,
        "active_alerts": len(rule.get("alerts") or []),
        "last_evaluation": rule.get("lastEvaluation"),
        "file": group.get("file"),
    } for group in _prom_data(payload, "/api/v1/rules")["groups"] for rule in group["rules"]]
    return _frame(rows, RULE_COLUMNS, ["last_evaluation"])


AM_ALERT_COLUMNS = ["alertname", "state", "severity", "receivers", "labels", "annotations",
                    "starts_at", "ends_at", "updated_at", "silenced_by", "inhibited_by",
                    "fingerprint"]


def am_alerts_to_frame(payload: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Alertmanager ``/api/v2/alerts`` JSON → one row per alert (state active|suppressed)."""
    rows = [{
        "alertname": a["labels"].get("alertname", ""),
        "state": a["status"]["state"],
        "severity": a["labels"].get("severity"),
        "receivers": [r["name"] for r in a.get("receivers", [])],
        "labels": a["labels"],
        "annotations": a.get("annotations", {}),
        "starts_at": a.get("startsAt"),
        "ends_at": a.get("endsAt"),
        "updated_at": a.get("updatedAt"),
        "silenced_by": list(a["status"].get("silencedBy") or []),
        "inhibited_by": list(a["status"].get("inhibitedBy") or []),
        "fingerprint": a.get("fingerprint"),
    } for a in payload]
    return _frame(rows, AM_ALERT_COLUMNS, ["starts_at", "ends_at", "updated_at"])


SILENCE_COLUMNS = ["id", "state", "matchers", "created_by", "comment", "starts_at", "ends_at",
                   "updated_at"]


def _matcher_text(m: Mapping[str, Any]) -> str:
    op = {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}[
        (m.get("isEqual", True), m.get("isRegex", False))]
    return f'{m["name"]}{op}"{m["value"]}"'


def silences_to_frame(payload: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Alertmanager ``/api/v2/silences`` JSON → one row per silence (active|pending|expired)."""
    rows = [{
        "id": s["id"],
        "state": s["status"]["state"],
        "matchers": [_matcher_text(m) for m in s["matchers"]],
        "created_by": s.get("createdBy"),
        "comment": s.get("comment"),
        "starts_at": s.get("startsAt"),
        "ends_at": s.get("endsAt"),
        "updated_at": s.get("updatedAt"),
    } for s in payload]
    return _frame(rows, SILENCE_COLUMNS, ["starts_at", "ends_at", "updated_at"])


NOTIFICATION_COLUMNS = ["id", "received_at", "receiver", "status", "alertname", "labels",
                        "annotations", "starts_at", "ends_at", "fingerprint", "group_key"]


def notifications_to_frame(payload: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The sink's ``/notifications`` JSON → one row per alert a receiver was sent."""
    rows = [{c: n.get(c) for c in NOTIFICATION_COLUMNS} for n in payload]
    return _frame(rows, NOTIFICATION_COLUMNS, ["received_at", "starts_at", "ends_at"])


# -- fetching ---------------------------------------------------------------------------------

def prometheus_alerts(prom_url: str) -> pd.DataFrame:
    """Pending and firing alerts as Prometheus sees them (columns: ``PROM_ALERT_COLUMNS``)."""
    return prom_alerts_to_frame(_request("Prometheus", prom_url, "GET", "/api/v1/alerts"))


def rules(prom_url: str, *, type: str | None = None) -> pd.DataFrame:
    """Every loaded rule with its state and health; ``type`` is 'alert' or 'record'."""
    if type not in (None, "alert", "record"):
        raise ValueError(f"type must be 'alert', 'record' or None, got {type!r}")
    params = {"type": type} if type else None
    return rules_to_frame(_request("Prometheus", prom_url, "GET", "/api/v1/rules", params=params))


def alertmanager_alerts(am_url: str) -> pd.DataFrame:
    """Alerts Alertmanager holds, with the receivers they route to and silences on them."""
    return am_alerts_to_frame(_request("Alertmanager", am_url, "GET", "/api/v2/alerts") or [])


def silences(am_url: str) -> pd.DataFrame:
    """All silences, active, pending and expired."""
    return silences_to_frame(_request("Alertmanager", am_url, "GET", "/api/v2/silences") or [])


def silence(am_url: str, silence_id: str) -> dict[str, Any]:
    """One silence's JSON (``/api/v2/silence/<id>``): matchers, window, status, creator."""
    answer = _request("Alertmanager", am_url, "GET", f"/api/v2/silence/{silence_id}")
    if not isinstance(answer, dict):
        raise QueryError(f"Alertmanager answered {str(answer)[:200]!r} for silence "
                         f"{silence_id!r}, not a silence")
    return answer


def notifications(
    sink_url: str, receiver: str | None = None, alertname: str | None = None,
    status: str | None = None,
) -> pd.DataFrame:
    """What the notification sink received, oldest first, optionally filtered."""
    params = {k: v for k, v in
              (("receiver", receiver), ("alertname", alertname), ("status", status)) if v}
    return notifications_to_frame(
        _request("the notification sink", sink_url, "GET", "/notifications", params=params)
        or [])


def _matchers(matchers: Mapping[str, str] | Sequence[str]) -> list[dict[str, Any]]:
    if isinstance(matchers, str):
        matchers = [matchers]
    items: list[tuple[str, str, str]] = []
    if isinstance(matchers, Mapping):
        items = [(name, "=", value) for name, value in matchers.items()]
    else:
        for text in matchers:
            found = _MATCHER.match(text)
            if not found:
                raise ValueError(f'matcher {text!r} is not like alertname="HighErrorRate" '
                                 '(operators =, !=, =~, !~)')
            name, op, value = found.groups()
            items.append((name, op, value))
    if not items:
        raise ValueError(
            "a silence needs at least one matcher, e.g. {'alertname': 'HighErrorRate'}"
        )
    return [{"name": n, "value": v, "isRegex": op in ("=~", "!~"), "isEqual": op in ("=", "=~")}
            for n, op, v in items]


def _duration(value: str | timedelta | float) -> timedelta:
    result = timedelta(seconds=parse_duration(value, what="the silence's duration"))
    if result <= timedelta(0):
        raise ValueError(f"a silence must last a positive time, got {value!r}")
    return result


def create_silence(
    am_url: str, matchers: Mapping[str, str] | Sequence[str], duration: str | timedelta | float,
    comment: str, created_by: str = "labkit",
) -> str:
    """Silence alerts matching ``matchers`` from now for ``duration``; returns the silence id.

    ``matchers`` is ``{"alertname": "HighErrorRate"}`` (equality) or strings such as
    ``['alertname="HighErrorRate"', 'severity=~"crit.*"']``.
    """
    if not comment.strip():
        raise ValueError("Alertmanager requires a comment saying why the silence exists")
    start = datetime.now(UTC)
    body = {
        "matchers": _matchers(matchers),
        "startsAt": start.isoformat(),
        "endsAt": (start + _duration(duration)).isoformat(),
        "createdBy": created_by,
        "comment": comment,
    }
    answer = _request("Alertmanager", am_url, "POST", "/api/v2/silences",
                      content=json.dumps(body), headers={"Content-Type": "application/json"})
    return str(answer["silenceID"])


def expire_silence(am_url: str, silence_id: str) -> None:
    """End a silence now (it stays listed, as expired)."""
    path = f"/api/v2/silence/{silence_id}"
    try:
        _request("Alertmanager", am_url, "DELETE", path)
    except QueryHTTPError as exc:
        if exc.status != 404 or exc.body.strip():
            raise
        # Alertmanager 0.25 says "silence not found"; 0.28 and later answer 404 with no body.
        raise QueryHTTPError(f"Alertmanager refused DELETE {path} (HTTP 404): silence not found: "
                             f"no silence has the id {silence_id!r} (list them with "
                             "labkit.query.alerts.silences)",
                             url=exc.url, status=404, body=exc.body) from exc
