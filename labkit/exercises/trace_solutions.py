"""The reference computations of notebook 03's trace exercises (pure, on span frames).

These are solutions: a graded kernel cannot import this module (``labkit grade`` leaves it
out of the kernel's copy of labkit, as it does ``references.yaml``), and the checks in
:mod:`labkit.exercises.sets.traces` import it only when they run, in the grader's process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from labkit.exercises.core import CheckFailed

__all__ = ["error_span_count", "first_token_ms", "inference_fraction", "self_time_ms",
           "slowest_trace", "top_self_time_operation"]

ROOT = "POST /v1/chat/completions"


def slowest_trace(spans: pd.DataFrame) -> str:
    """The trace id whose server span (the whole request) lasted longest."""
    roots = spans[(spans["operation"] == ROOT) & spans["parent_id"].isna()]
    if roots.empty:
        raise CheckFailed(f"no {ROOT!r} root span in the window")
    return str(roots.loc[roots["duration_ms"].idxmax(), "trace_id"])


def self_time_ms(spans: pd.DataFrame) -> pd.Series:
    """Each span's duration minus its children's (the gateway's children never overlap)."""
    children = spans.groupby(["trace_id", "parent_id"])["duration_ms"].sum()
    keys = pd.MultiIndex.from_arrays([spans["trace_id"], spans["span_id"]])
    covered = children.reindex(keys).fillna(0.0).to_numpy()
    return pd.Series(spans["duration_ms"].to_numpy() - covered, index=spans.index,
                     name="self_ms")


def top_self_time_operation(spans: pd.DataFrame, q: float = 0.95) -> pd.Series:
    """The q-quantile of self time per operation, highest first."""
    frame = spans.assign(self_ms=self_time_ms(spans))
    return frame.groupby("operation")["self_ms"].quantile(q).sort_values(ascending=False)


def inference_fraction(spans: pd.DataFrame) -> float:
    """Time in inference spans over the time of whole requests (server spans), all traces."""
    total = spans.loc[(spans["operation"] == ROOT) & spans["parent_id"].isna(), "duration_ms"]
    if total.sum() <= 0:
        raise CheckFailed("no request time in the window")
    return float(spans.loc[spans["operation"] == "inference", "duration_ms"].sum() / total.sum())


def error_span_count(spans: pd.DataFrame) -> int:
    """Spans whose status is ERROR."""
    return int((spans["status"] == "error").sum())


def first_token_ms(payload: Mapping[str, Any]) -> pd.Series:
    """Time to first token (ms) of each streaming request, from its gen_ai.first_token event."""
    out: dict[str, float] = {}
    for trace in payload.get("data") or []:
        for span in trace.get("spans") or []:
            for log in span.get("logs") or []:
                fields = {f["key"]: f["value"] for f in log.get("fields") or []}
                if fields.get("event") == "gen_ai.first_token":
                    out[span["traceID"]] = float(fields["gen_ai.server.time_to_first_token"]) * 1e3
    return pd.Series(out, name="ttft_ms", dtype="float64")
