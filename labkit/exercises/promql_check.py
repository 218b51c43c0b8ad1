"""The PromQL check: the answer must match the reference on the fixture, and live.

The synthetic fixture decides (it is where the right answer and the wrong ones differ,
whatever the live traffic is doing). The live Prometheus shows the learner what the
query returns now, and fails an answer that differs from the reference on real data
too; when the live reference has no data yet, the fixture alone decides. The verdict
records both: the fixture's id and the live instant.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from labkit.errors import QueryError
from labkit.exercises.compare import Samples, compare_samples, frame_samples
from labkit.exercises.core import CheckFailed, Outcome
from labkit.exercises.promql_fixture import SeriesFixture, same_on_fixture

__all__ = ["promql_check"]


def _live(lab: Any, query: str, at: float, who: str) -> Samples:
    try:
        return frame_samples(lab.prometheus.query(query, time=at))
    except QueryError as exc:
        raise CheckFailed(f"Prometheus rejected {who}: {exc}") from None


def _show(samples: Samples) -> str:
    values = ", ".join(f"{v:.4g}" for v in list(samples.values())[:3])
    more = "" if len(samples) <= 3 else f", ... ({len(samples)} series)"
    return values + more if samples else "no data"


def promql_check(lab: Any, answer: Any, reference: str, fixture: SeriesFixture, *,
                 scales: Sequence[float] = (1.0,), rel: float = 1e-6,
                 live_when: Any = None) -> Outcome:
    """Judge a PromQL ``answer`` against ``reference``: on ``fixture``, then live.

    ``live_when(samples) -> bool`` says whether the live reference result is worth
    comparing (default: it has data); e.g. a top-k with ties is not.
    """
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a PromQL string, got {type(answer).__name__}")
    at = time.time() - 1.0  # a moment ago: the last scrape has landed
    mine = _live(lab, answer, at, "your query")  # first: a clear message for a syntax error
    hermetic = same_on_fixture(answer, reference, fixture, scales=scales, rel=rel)
    evidence = {**hermetic.evaluated_on, "live": {"at": round(at, 3)}}
    if not hermetic.passed:
        return Outcome(False, f"{hermetic.detail} (live now: {_show(mine)})", evidence)
    want = _live(lab, reference, at, "the reference")
    usable = bool(want) and (live_when is None or live_when(want))
    if not usable:
        evidence["live"]["compared"] = False
        return Outcome(True, f"{hermetic.detail}; live now: {_show(mine)} (nothing to compare "
                             "with yet)", evidence)
    evidence["live"]["compared"] = True
    for scale in scales:
        live = compare_samples(mine, {k: v * scale for k, v in want.items()}, rel=max(rel, 1e-6))
        if live.passed:
            return Outcome(True, f"{hermetic.detail}; live now: {_show(mine)}, the same as the "
                                 "reference", evidence)
    return Outcome(False, f"right on the synthetic series, but not on the live data now: "
                          f"{live.detail}", evidence)
