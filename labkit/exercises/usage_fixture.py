"""Cost answers: functions ``answer(store, window)``, run on fixed usage rows and live.

The fixture is a usage table (the gateway's ``usage_logs``, :mod:`labkit.usage_db`) in a
temporary SQLite file, filled once per process with fixed rows over a five-minute window,
built so that the usual mistakes give another result:

- ``labkit-tiny`` rows mix prompt and completion tokens unevenly (completion tokens cost
  three times as much), so one price alone, or an average of per-row ratios, is off;
- rows of another model, and rows just before and at the window's end (``[start, end)``)
  with other mixes, change the answer when the model or the window is not kept;
- ``user_1`` sends the most requests, ``user_3`` the most tokens (cheap prompt tokens),
  ``user_2`` costs the most (completion tokens), and ``user_9`` spent the most just
  before the window.

:func:`on_usage` runs the learner's function in the kernel on the fixture and on the live
usage database over ``window``::

    check("slo.cost_per_1k_tokens", on_usage(cost_per_1k, {"start": AT - 300, "end": AT}))
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from labkit.exercises import function_answers
from labkit.exercises.core import Outcome
from labkit.exercises.function_answers import AnswerFixture

__all__ = ["FIXTURE_ID", "START", "judge", "on_usage", "usage_fixture"]

FIXTURE_ID = "usage-rows-v1"
START = datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()
END = START + 300.0
USAGE = 'answer with a function: check(id, on_usage(your_function, {"start": ..., "end": ...}))'

# (seconds after START, user, model, status, prompt tokens, completion tokens)
_IN_WINDOW = [
    *[(5.0 + 9 * i, "user_1", "labkit-tiny", 200, 40 + i, 20 + i % 5) for i in range(18)],
    *[(11.0 + 40 * i, "user_2", "labkit-tiny", 200, 30, 400 + 10 * i) for i in range(5)],
    *[(17.0 + 30 * i, "user_3", "labkit-tiny", 200, 900 + 20 * i, 10) for i in range(6)],
    *[(23.0 + 50 * i, "user_4", "labkit-tiny-chat", 200, 10, 300) for i in range(2)],
    (250.0, "user_1", "labkit-tiny", 500, 0, 0),
    (260.0, None, "labkit-tiny", 200, 60, 60),
]
_OUTSIDE = [
    (-20.0, "user_9", "labkit-tiny", 200, 10, 9000),  # just before the window
    (-1.0, "user_3", "labkit-tiny", 200, 5000, 0),
    (300.0, "user_9", "labkit-tiny", 200, 10, 9000),  # at its (excluded) end
    (330.0, "user_1", "labkit-tiny", 200, 7000, 10),
]


def _rows() -> list[dict[str, Any]]:
    out = []
    for n, (at, user, model, status, prompt, completion) in enumerate([*_IN_WINDOW, *_OUTSIDE]):
        out.append({"created_at": datetime.fromtimestamp(START, UTC).replace(tzinfo=None)
                    + timedelta(seconds=at), "request_id": f"req_usage_fixture_{n:03d}",
                    "user_id": user, "model": model, "endpoint": "/v1/chat/completions",
                    "status": status, "prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion, "duration_ms": 20.0 + n})
    return out


@functools.cache
def usage_fixture() -> AnswerFixture:
    """The fixed usage rows in a UsageStore of their own (built once per process)."""
    from labkit.cost import UsageStore
    from labkit.usage_db import USAGE_TABLE, make_engine, metadata

    folder = tempfile.mkdtemp(prefix="labkit-usage-fixture-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    url = f"sqlite:///{folder}/usage.db"
    engine = make_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(USAGE_TABLE.insert(), _rows())
    return AnswerFixture(FIXTURE_ID, UsageStore(url, engine=engine), {"start": START, "end": END})


def _live_store(lab: Any) -> Any:
    from labkit.cost import UsageStore, usage_db_url

    return UsageStore(usage_db_url(lab.config))


def on_usage(fn: Any, window: Mapping[str, float], lab: Any = None) -> dict[str, Any] | None:
    """Run ``fn(store, window)`` on the fixed usage rows and on the live usage database over
    ``window``; the record a check judges. An unanswered exercise stays None."""
    opened: list[Any] = []

    def live() -> Any:
        nonlocal lab
        if lab is None:
            from labkit.lab import connect

            lab = connect()
            opened.append(lab)
        opened.append(_live_store(lab))
        return opened[-1]

    try:
        return function_answers.record_answer(fn, FIXTURE_ID, usage_fixture, live, window)
    finally:
        for opened_here in opened:  # the stores, and a connection made here
            opened_here.close()


def judge(answer: Any, lab: Any, reference: function_answers.Reference,
          compare: function_answers.Compare) -> Outcome:
    """Judge a recorded cost answer (see :func:`labkit.exercises.function_answers.judge`)."""
    store = _live_store(lab)
    try:
        return function_answers.judge(
            answer, usage_fixture(), store, reference, compare,
            lambda start, end: len(store.rows(since=start, until=end)),
            what="usage rows", usage=USAGE)
    finally:
        store.close()
