"""Open-loop load generator for OpenAI-compatible chat endpoints.

>>> from labkit.load import generate_load                                  # doctest: +SKIP
>>> result = generate_load("http://127.0.0.1:8000", rate=5, duration=30)  # doctest: +SKIP
>>> result.summary()["ttft_p99_s"]                                         # doctest: +SKIP
"""

from __future__ import annotations

from labkit.load.cli import main
from labkit.load.phases import Phase, PhasedRun, phases
from labkit.load.result import COLUMNS, LoadResult
from labkit.load.runner import agenerate_load, generate_load
from labkit.load.schedule import DEFAULT_PROMPTS, DEFAULT_USERS, Arrival, build_schedule

__all__ = [
    "COLUMNS",
    "DEFAULT_PROMPTS",
    "DEFAULT_USERS",
    "Arrival",
    "LoadResult",
    "Phase",
    "PhasedRun",
    "agenerate_load",
    "build_schedule",
    "generate_load",
    "main",
    "phases",
]
