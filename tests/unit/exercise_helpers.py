"""Helpers for the per-exercise tests: a lab with no live data, and the table runner."""

from __future__ import annotations

import shutil
from typing import Any

import pandas as pd
import pytest

from labkit.exercises import evaluate

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool is not installed (Debian: prometheus)")


class _NoData:
    """A Prometheus that holds nothing yet: the fixture alone decides."""

    def query(self, promql: str, *, time: Any = None) -> pd.DataFrame:
        return pd.DataFrame(columns=["value"])


class OfflineLab:
    """A lab whose live backends have no data: checks must decide on their fixtures."""

    prometheus = _NoData()


def verdict_of(exercise_id: str, answer: Any) -> Any:
    return evaluate(exercise_id, answer, OfflineLab())


def cases(right: list[str], wrong: dict[str, str]) -> list[Any]:
    """pytest params: every right answer must pass, every wrong one fail, with readable ids."""
    return ([pytest.param(a, "passed", id=f"right-{i}") for i, a in enumerate(right)]
            + [pytest.param(a, "failed", id=f"wrong-{name}") for name, a in wrong.items()])
