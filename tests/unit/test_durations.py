"""labkit's one duration parser, in Prometheus's and Go's units."""

from __future__ import annotations

from datetime import timedelta

import pytest

from labkit.durations import ALL_UNITS, GO_UNITS, PROMETHEUS_UNITS, duration_ns, parse_duration


@pytest.mark.parametrize(("value", "seconds"), [
    ("30s", 30.0), ("1h30m", 5400.0), ("500ms", 0.5), ("2d", 172800.0), ("1w", 604800.0),
    ("1y", 31536000.0), ("1.5m", 90.0), (" 5m ", 300.0), (timedelta(minutes=2), 120.0), (7, 7.0),
], ids=["s", "hm", "ms", "d", "w", "y", "fraction", "spaces", "timedelta", "number"])
def test_prometheus_durations_in_seconds(value: object, seconds: float) -> None:
    """Strings, timedeltas and numbers of seconds all give seconds."""
    assert parse_duration(value) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["soon", "", "5", "-5m", "5 m", "1ns", "m5", "5mm", "٣s"],
                         ids=["word", "empty", "no-unit", "negative", "inner-space", "go-unit",
                              "unit-first", "double-unit", "non-ascii-digit"])
def test_what_is_not_a_prometheus_duration_is_refused_with_examples(text: str) -> None:
    """A bad duration names what was wrong and shows the accepted form."""
    with pytest.raises(ValueError, match=r"step .* is not a duration; use e.g. '500ms'"):
        parse_duration(text, what="step")


def test_booleans_are_not_numbers_of_seconds() -> None:
    """True is not one second."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(True)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "ns"), [
    ("1.2s", 1.2e9), (".5s", 5e8), ("1.s", 1e9), ("100us", 1e5), ("100µs", 1e5), ("-1h", -3.6e12),
    ("+2ms", 2e6), ("0", 0.0), ("1h30m15s", 5415e9),
], ids=["fraction", "leading-dot", "trailing-dot", "us", "micro-sign", "negative", "plus",
        "zero", "compound"])
def test_go_durations_follow_time_parse_duration(text: str, ns: float) -> None:
    """Go's grammar: signs, fractions with a leading or trailing dot, micro signs."""
    assert duration_ns(text, GO_UNITS) == pytest.approx(ns)


@pytest.mark.parametrize(("text", "units"), [("1d", GO_UNITS), ("5ns", PROMETHEUS_UNITS),
                                             ("", ALL_UNITS), ("-", ALL_UNITS), ("1", GO_UNITS)],
                         ids=["day-in-go", "ns-in-prometheus", "empty", "sign-only", "no-unit"])
def test_units_outside_the_grammar_are_not_durations(text: str, units: frozenset[str]) -> None:
    """A unit the grammar lacks, or no number and unit at all, is None."""
    assert duration_ns(text, units) is None
