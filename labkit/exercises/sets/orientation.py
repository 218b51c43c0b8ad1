"""Warm-up exercises of notebook 00 (orientation): checking an answer, reading a verdict."""

from __future__ import annotations

import math
from typing import Any

import httpx

from labkit.exercises.core import CheckFailed, Outcome, exercise

__all__ = ["LAB_FOR_ERRORS_S", "PRODUCTION_FOR_ERRORS_S"]

PRODUCTION_FOR_ERRORS_S = 300.0  # HighErrorRate waits `for: 5m` in production
LAB_FOR_ERRORS_S = 30.0  # and 30 s in the lab (stack/prometheus/rules/_timing.j2)


@exercise("orientation.models", title="The models the gateway serves",
          hint="GET {gateway}/v1/models (the OpenAI API's model list): answer the list of ids")
def _models(answer: Any, lab: Any) -> Outcome:
    if isinstance(answer, str) or not isinstance(answer, list | tuple | set):
        raise CheckFailed("answer with a list of model ids, e.g. ['model-a', 'model-b']")
    if not all(isinstance(m, str) for m in answer):
        raise CheckFailed("every model id is a string")
    response = httpx.get(lab.gateway_url + "/v1/models", timeout=10)
    served = {m["id"] for m in response.json()["data"]}
    given = set(answer)
    on = {"live": {"gateway": lab.gateway_url, "models": sorted(served)}}
    if len(given) != len(answer):
        return Outcome(False, "the list names a model twice", on)
    if given == served:
        return Outcome(True, f"{len(served)} models: {', '.join(sorted(served))}", on)
    missing, extra = served - given, given - served
    parts = [f"{len(missing)} missing" if missing else "", f"{sorted(extra)} not served"
             if extra else ""]
    return Outcome(False, "; ".join(p for p in parts if p), on)


@exercise("orientation.time_compression", title="How much faster the lab's clock runs",
          hint="Divide the production `for:` of HighErrorRate by the lab's (both in seconds)")
def _compression(answer: Any, lab: Any) -> Outcome:
    if isinstance(answer, bool) or not isinstance(answer, int | float) or math.isnan(answer):
        raise CheckFailed(f"answer with a number, not {answer!r}")
    ref = PRODUCTION_FOR_ERRORS_S / LAB_FOR_ERRORS_S
    on = {"fixture": "alert-timing-v1"}  # the rule files' constants, not the live lab
    if math.isclose(float(answer), ref, rel_tol=1e-6):
        return Outcome(True, f"{ref:g}x: a 5-minute wait becomes {LAB_FOR_ERRORS_S:g} s", on)
    return Outcome(False, f"{answer:g} is not production / lab for that alert", on)
