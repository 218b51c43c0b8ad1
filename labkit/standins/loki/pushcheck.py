"""Validate pushed streams and entries the way Loki's distributor does, one by one.

A push with some invalid entries keeps the valid ones: each refused entry gets a line in
Loki's words and each stream with refusals Loki's ``total ignored: K out of N`` line, and
the server answers 400 with them after storing the rest (the valid entries are acknowledged
by being stored; a client counts them from ``total ignored``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from labkit.standins.loki.golayout import GoTime
from labkit.standins.loki.labelsets import LabelsKey, labels_string

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_INT64 = 2**63
MAX_REPORTED = 10  # reasons listed per stream (Loki's max_returned_errors); all are counted


@dataclass(frozen=True)
class PushLimits:
    """Loki's per-tenant defaults for what a push may contain."""

    max_line_size: int = 256 * 1024  # max_line_size: 256KB
    max_label_names: int = 15  # max_label_names_per_series
    max_label_name_length: int = 1024
    max_label_value_length: int = 2048
    creation_grace_ns: int = 10 * 60 * 10**9  # creation_grace_period: 10m (too new)
    reject_old_max_age_ns: int | None = None  # reject_old_samples_max_age; off (see docs)


def _rfc3339(ns: int) -> str:
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(ns)


def stream_error(labels: dict[str, str], limits: PushLimits) -> str | None:
    """Why Loki refuses this stream's labels, or None."""
    error = getattr(labels, "error", None)
    if error:
        return str(error)
    if not labels:
        return "error at least one label pair is required per stream"
    text = labels_string(labels)
    for name in labels:
        if not _LABEL_NAME.match(name):
            return f"Error parsing labels '{text}' with error: invalid label name \"{name}\""
    if len(labels) > limits.max_label_names:
        return (f"entry for stream '{text}' has {len(labels)} label names; "
                f"limit {limits.max_label_names}")
    for name, value in labels.items():
        if len(name) > limits.max_label_name_length:
            return f"stream '{text}' has label name too long: '{name}'"
        if len(value) > limits.max_label_value_length:
            return f"stream '{text}' has label value too long: '{value}'"
    return None


def entry_error(key: LabelsKey, ts: int, line: str, limits: PushLimits, now_ns: int) -> str | None:
    """Why Loki refuses this entry, or None."""
    if not -_INT64 <= ts < _INT64:
        return (f"entry for stream '{labels_string(key)}' has timestamp out of range: {ts} "
                "(nanoseconds since the epoch must fit in int64)")
    size = len(line.encode("utf-8", "surrogatepass")) if len(line) * 4 > limits.max_line_size \
        else len(line)
    if size > limits.max_line_size:
        return (f"Max entry size '{limits.max_line_size}' bytes exceeded for stream "
                f"'{labels_string(key)}' while adding an entry with length '{size}' bytes")
    if ts > now_ns + limits.creation_grace_ns:
        return f"entry for stream '{labels_string(key)}' has timestamp too new: {_rfc3339(ts)}"
    if limits.reject_old_max_age_ns is not None and ts < now_ns - limits.reject_old_max_age_ns:
        oldest = now_ns - limits.reject_old_max_age_ns
        return (f"entry for stream '{labels_string(key)}' has timestamp too old: "
                f"{_rfc3339(ts)}, oldest acceptable timestamp is: {_rfc3339(oldest)}")
    return None


def split_valid(
    streams: list[tuple[dict[str, str], list[tuple[int, str]]]], limits: PushLimits,
    now_ns: int | None = None,
) -> tuple[list[tuple[LabelsKey, list[tuple[int, str]]]], list[str]]:
    """(valid entries by stream key, the rejection report: per stream with refused entries,
    Loki's ``entry with timestamp ... ignored, reason: '...',`` lines and its
    ``user 'fake', total ignored: K out of N for stream: {...}``)."""
    now = time.time_ns() if now_ns is None else now_ns
    valid: list[tuple[LabelsKey, list[tuple[int, str]]]] = []
    report: list[str] = []
    for labels, entries in streams:
        err = stream_error(labels, limits)
        if err is not None:
            report.append(err)
            report.append(_total(len(entries), len(entries), labels_string(labels)))
            continue
        key = tuple(sorted((k, v) for k, v in labels.items() if v != ""))
        if entries and _plainly_valid(entries, limits, now):
            valid.append((key, entries))
            continue
        good, bad = [], []
        for ts, line in entries:
            e = entry_error(key, ts, line, limits, now)
            if e is None:
                good.append((ts, line))
            else:
                bad.append(f"entry with timestamp {_go_time(ts)} ignored, reason: '{e}',")
        if good:
            valid.append((key, good))
        if bad:
            report.extend(bad[:MAX_REPORTED])
            report.append(_total(len(bad), len(entries), labels_string(key)))
    return valid, report


def _total(ignored: int, total: int, stream: str) -> str:
    return f"user 'fake', total ignored: {ignored} out of {total} for stream: {stream}"


def _go_time(ns: int) -> str:
    try:
        return GoTime(ns).go_string()
    except (OverflowError, OSError, ValueError):
        return str(ns)


def _plainly_valid(entries: list[tuple[int, str]], limits: PushLimits, now_ns: int) -> bool:
    """Every entry within the limits, checked with a few C-speed passes (the usual push)."""
    times = [t for t, _ in entries]
    lo, hi = min(times), max(times)
    if hi > now_ns + limits.creation_grace_ns or lo < -_INT64:
        return False
    if limits.reject_old_max_age_ns is not None and lo < now_ns - limits.reject_old_max_age_ns:
        return False
    # characters bound bytes from below; 4 bytes per character at most bounds them above
    return max(len(line) for _, line in entries) * 4 <= limits.max_line_size


def rejection_message(report: list[str]) -> str:
    """The 400 body of a partial push (Loki's per-stream form, one reason a line)."""
    return "\n".join(report)
