"""Evaluate PromQL on fixed synthetic series with ``promtool test rules``, hermetically.

A :class:`SeriesFixture` is a set of input series (promtool's expanding notation or
explicit values) and the instants the exercises are judged at. :func:`evaluate_on`
asks promtool for each query's result at each instant: every case expects nothing
(``exp_samples: []``), so promtool prints what each query *did* return, and an empty
result is the only one it does not print.

The fixtures are built so that the right answer and the plausible wrong ones differ
(constants, a missing ``rate()``, another window, a missing ``by``, a numerator alone):
see :mod:`labkit.exercises.fixture_series`.
"""

from __future__ import annotations

import ast
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from labkit.alerting.tools import test_rules
from labkit.durations import parse_duration
from labkit.exercises.compare import Key, Samples, compare_samples
from labkit.exercises.core import CheckFailed, Outcome

__all__ = ["SeriesFixture", "evaluate_on", "parse_samples", "same_on_fixture"]


@dataclass(frozen=True)
class SeriesFixture:
    """Synthetic series for promtool, and the instants (``eval_times``) answers are judged at."""

    id: str
    interval: str
    series: tuple[tuple[str, str], ...]  # (series selector, promtool values)
    eval_times: tuple[str, ...]
    description: str = ""


_HEADER = re.compile(r'^\s*expr: (".*"), time: ([0-9a-z.]+),(?: err: (.*))?$')
_SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)?\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}'
                     r"\s+([-+0-9.eEa-zA-Z]+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_samples(text: str) -> Samples:
    """promtool's ``got:`` text (``{a="1", b="2"} 1.5E+00, ...``) as samples; ``nil`` is none.

    The metric name is dropped, as in the live comparison.
    """
    out: Samples = {}
    if text.strip() == "nil":
        return out
    for _name, labels, value in _SAMPLE.findall(text):
        key: Key = tuple(sorted((k, ast.literal_eval(f'"{v}"'))
                                for k, v in _LABEL.findall(labels) if k != "__name__"))
        out[key] = float(value)
    return out


def evaluate_on(fixture: SeriesFixture, queries: Sequence[str]) -> list[list[Samples]]:
    """Each query's result at each of the fixture's instants: ``[query][instant]``.

    Raises :class:`CheckFailed` naming the query promtool could not evaluate.
    """
    cases = [(q, t) for q in queries for t in fixture.eval_times]
    test = {"interval": fixture.interval,
            "input_series": [{"series": s, "values": v} for s, v in fixture.series],
            "promql_expr_test": [{"expr": q, "eval_time": t, "exp_samples": []}
                                 for q, t in cases]}
    with tempfile.TemporaryDirectory(prefix="labkit-fixture-") as tmp:
        path = Path(tmp) / "fixture_test.yml"
        path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": fixture.interval,
                                        "tests": [test]}, sort_keys=False))
        result = test_rules([path])
    evidence = {"fixture": fixture.id, "instants": list(fixture.eval_times)}
    found: dict[tuple[str, float], Samples] = {}
    lines = result.output.splitlines()
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        if not match:
            continue
        expr, at = ast.literal_eval(match.group(1)), parse_duration(match.group(2))
        if match.group(3):
            raise CheckFailed(f"promtool cannot evaluate {expr!r}: {match.group(3)}", evidence)
        got = next((x for x in lines[i + 1:i + 3] if x.strip().startswith("got:")), None)
        if got is None:
            raise CheckFailed(f"unexpected promtool output for {expr!r}:\n{result.output[-800:]}",
                              evidence)
        found[(expr, at)] = parse_samples(got.strip()[len("got:"):])
    if not result.ok and not found:
        raise CheckFailed(f"promtool could not run the fixture {fixture.id}:\n"
                          f"{result.output[-800:]}", evidence)
    return [[found.get((q, parse_duration(t)), {}) for t in fixture.eval_times] for q in queries]


def _scaled(samples: Samples, scale: float) -> Samples:
    return {k: v * scale for k, v in samples.items()}


def same_on_fixture(answer: str, reference: str, fixture: SeriesFixture, *,
                    scales: Sequence[float] = (1.0,), rel: float = 1e-6) -> Outcome:
    """The answer returns the reference's series and values at every instant of the fixture.

    ``scales`` lists accepted multiples of the reference (``(1, 100)``: a ratio or percent).
    """
    got, want = evaluate_on(fixture, [answer, reference])
    evidence = {"fixture": fixture.id, "instants": list(fixture.eval_times)}
    for at, want_at in zip(fixture.eval_times, want, strict=True):
        if not want_at or all(math.isnan(v) for v in want_at.values()):
            raise CheckFailed(f"the reference has no data on fixture {fixture.id} at {at}: "
                              "the fixture is broken (report this)", evidence)
    failure = None
    for scale in scales:
        failure = None
        for at, got_at, want_at in zip(fixture.eval_times, got, want, strict=True):
            outcome = compare_samples(got_at, _scaled(want_at, scale), rel=rel)
            if not outcome.passed:
                failure = f"at t={at}: {outcome.detail}"
                break
        if failure is None:
            return Outcome(True, f"same result as the reference at {len(fixture.eval_times)} "
                                 f"instants of the synthetic series {fixture.id}", evidence)
    what = fixture.description or "synthetic series"
    return Outcome(False, f"on the {what} ({fixture.id}) {failure}", evidence)
