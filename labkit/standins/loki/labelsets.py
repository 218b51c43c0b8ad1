"""Label sets as the stand-in keys them, and their Prometheus text form."""

from __future__ import annotations

import orjson

LabelsKey = tuple[tuple[str, str], ...]


def labels_string(labels: dict[str, str] | LabelsKey) -> str:
    """Prometheus text form: {a="b", c="d"} (sorted by name)."""
    items = sorted(labels.items()) if isinstance(labels, dict) else labels
    return "{" + ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in items) + "}"
