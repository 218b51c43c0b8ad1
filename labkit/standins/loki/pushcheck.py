"""Validate pushed streams and entries the way Loki's distributor does, one by one.

A push with some invalid entries keeps the valid ones: each rejected stream or entry gets a
line in Loki's words, and the server answers 400 with those lines after storing the rest
(the valid entries are acknowledged by being stored, not by the status code).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from labkit.standins.loki.labelsets import LabelsKey, labels_string

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_INT64 = 2**63
MAX_REPORTED = 10  # rejection lines in one answer; the rest are counted


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
    """(valid entries by stream key, one message per rejected stream or entry)."""
    now = time.time_ns() if now_ns is None else now_ns
    valid: list[tuple[LabelsKey, list[tuple[int, str]]]] = []
    rejected: list[str] = []
    for labels, entries in streams:
        err = stream_error(labels, limits)
        if err is not None:
            rejected.append(err)
            continue
        key = tuple(sorted((k, v) for k, v in labels.items() if v != ""))
        good = []
        for ts, line in entries:
            e = entry_error(key, ts, line, limits, now)
            if e is None:
                good.append((ts, line))
            else:
                rejected.append(e)
        if good:
            valid.append((key, good))
    return valid, rejected


def rejection_message(rejected: list[str], stored: int) -> str:
    """The 400 body of a partial push: the first reasons, how many more, what was kept."""
    lines = rejected[:MAX_REPORTED]
    if len(rejected) > MAX_REPORTED:
        lines.append(f"... and {len(rejected) - MAX_REPORTED} more rejected")
    lines.append(f"({stored} valid entries of this push were stored)")
    return "\n".join(lines)
