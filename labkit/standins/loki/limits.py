"""Query limits with Loki's defaults and Loki's refusals.

- ``limit`` above ``max_entries_limit_per_query`` (5000): 400
  ``max entries limit per query exceeded, limit > max_entries_limit_per_query (N > 5000)``;
- a range longer than ``max_query_length`` (721h): 400
  ``the query time range exceeds the limit (query length: 744h0m0s, limit: 721h0m0s)``;
- a metric result of more than ``max_query_series`` (500) series: 400
  ``maximum number of series (500) reached for a single query; ...``;
- a query running past ``query_timeout`` (1m): 504 ``request timed out, decrease the
  duration of the request or add more label matchers ...``. The evaluator checks the
  deadline as it reads lines, so the query stops, not just its answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

_HOUR = 3600 * 10**9


class LimitError(ValueError):
    """A query over one of the limits (answered with 400)."""


class QueryTimeout(Exception):
    """The query ran past its time budget (answered with 504)."""

    MESSAGE = ("request timed out, decrease the duration of the request or add more label "
               "matchers (prefer exact match over regex match) to reduce the amount of data "
               "processed")


@dataclass(frozen=True)
class QueryLimits:
    max_entries: int = 5000
    max_query_length_ns: int = 721 * _HOUR
    max_series: int = 500
    timeout_s: float = 60.0


def go_duration(ns: int) -> str:
    """Go's time.Duration.String() for whole seconds and above (``721h0m0s``)."""
    secs = ns / 1e9
    h, rem = divmod(int(secs), 3600)
    m, s = divmod(rem, 60)
    frac = secs - int(secs)
    s_text = f"{s + frac:.9f}".rstrip("0").rstrip(".") if frac else str(s)
    if h:
        return f"{h}h{m}m{s_text}s"
    if m:
        return f"{m}m{s_text}s"
    return f"{s_text}s"


def check_limit(limit: int, limits: QueryLimits) -> None:
    if limits.max_entries and limit > limits.max_entries:
        raise LimitError(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query "
            f"({limit} > {limits.max_entries})"
        )


def check_range(start_ns: int, end_ns: int, limits: QueryLimits) -> None:
    length = end_ns - start_ns
    if limits.max_query_length_ns and length > limits.max_query_length_ns:
        raise LimitError(
            f"the query time range exceeds the limit (query length: {go_duration(length)}, "
            f"limit: {go_duration(limits.max_query_length_ns)})"
        )


def check_series(count: int, limits: QueryLimits) -> None:
    if limits.max_series and count > limits.max_series:
        raise LimitError(
            f"maximum number of series ({limits.max_series}) reached for a single query; "
            "consider reducing query cardinality by adding more specific stream selectors, "
            "reducing the time range, or aggregating results with functions like sum(), "
            "count() or topk()"
        )


class Deadline:
    """A query's time budget; ``check`` raises QueryTimeout once it is spent."""

    __slots__ = ("at",)

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds

    def check(self) -> None:
        if self.at is not None and time.monotonic() > self.at:
            raise QueryTimeout(QueryTimeout.MESSAGE)
