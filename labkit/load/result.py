"""What a load run produced: one row per request, and the summary percentiles."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["COLUMNS", "LoadResult"]

# The per-request frame, in order. Latencies are seconds from the *scheduled* send time.
COLUMNS = [
    "request_id", "user", "prompt", "scheduled_at", "start", "queued_s", "ttft_s", "itl_s",
    "e2e_s", "prompt_tokens", "completion_tokens", "status", "error",
]
_LATENCIES = ["ttft_s", "itl_s", "e2e_s", "queued_s"]


@dataclass
class LoadResult:
    """The outcome of :func:`labkit.load.generate_load`.

    ``frame`` has one row per request (columns in :data:`COLUMNS`); ``summary()`` the
    headline numbers; ``percentiles()`` p50/p90/p99 per latency.

    >>> result = generate_load("http://127.0.0.1:8000", rate=5, duration=10)  # doctest: +SKIP
    >>> result.summary()["e2e_p99_s"]                                       # doctest: +SKIP
    """

    frame: pd.DataFrame
    duration_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> pd.DataFrame:
        """Rows of requests that completed with HTTP 200 and no error."""
        return self.frame[(self.frame["status"] == 200) & self.frame["error"].isna()]

    def percentiles(self, qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> pd.DataFrame:
        """p50/p90/p99 (and mean, max) of each latency over successful requests, in seconds."""
        ok = self.ok
        rows = {}
        for col in _LATENCIES:
            values = ok[col].dropna().astype("float64")
            stats = {f"p{q * 100:g}": (values.quantile(q) if len(values) else math.nan) for q in qs}
            stats["mean"] = values.mean() if len(values) else math.nan
            stats["max"] = values.max() if len(values) else math.nan
            rows[col] = stats
        return pd.DataFrame.from_dict(rows, orient="index")

    def summary(self) -> dict[str, float]:
        """Counts, rates and p50/p90/p99 latencies as one flat dict of numbers."""
        count, ok = len(self.frame), self.ok
        # At least the planned duration: the last arrival may finish before it ends.
        wall = max(self.duration_s, float(self.settings.get("duration", 0.0))) or math.nan
        out: dict[str, float] = {
            "requests": count,
            "ok": len(ok),
            "errors": count - len(ok),
            "error_ratio": (count - len(ok)) / count if count else math.nan,
            "offered_rate": self.settings.get("rate", math.nan),
            "achieved_rate": len(ok) / wall,
            "tokens_per_s": float(ok["completion_tokens"].sum()) / wall,
            "duration_s": self.duration_s,
        }
        table = self.percentiles()
        for metric, row in table.iterrows():
            name = str(metric).removesuffix("_s")
            for stat in ("p50", "p90", "p99"):
                out[f"{name}_{stat}_s"] = float(row[stat])
        return out

    def _summary_text(self) -> str:
        s = self.summary()
        head = (f"{s['requests']:.0f} requests, {s['ok']:.0f} ok, {s['errors']:.0f} errors, "
                f"{s['achieved_rate']:.2f} req/s achieved (offered {s['offered_rate']:g}), "
                f"{s['tokens_per_s']:.1f} tokens/s over {s['duration_s']:.1f}s")
        table = (self.percentiles() * 1000).round(1)
        return head + "\n" + str(table.to_string(header=[f"{c} ms" for c in table.columns]))

    def __repr__(self) -> str:
        return f"LoadResult: {self._summary_text()}"

    def _repr_html_(self) -> str:
        head = html.escape(self._summary_text().splitlines()[0])
        table = (self.percentiles() * 1000).round(1).to_html()
        return f"<div><b>LoadResult</b>: {head}<br><i>latencies in ms</i>{table}</div>"
