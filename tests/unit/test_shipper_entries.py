"""Log lines become Loki entries with the right labels, time and stream grouping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.shipper.entries import make_entry, parse_labels, parse_rfc3339_ns, push_payload
from labkit.shipper.positions import FileState, load_positions, save_positions

READ_NS = 1_700_000_000_123_456_789


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T03:30:45.123456Z", 1_795_923_045_123_456_000),
        ("2026-11-29T03:30:45.123456789Z", 1_795_923_045_123_456_789),
        ("2026-11-29T03:30:45Z", 1_795_923_045_000_000_000),
        ("2026-11-29T04:30:45.5+01:00", 1_795_923_045_500_000_000),
        ("2026-11-28T22:30:45.5-05:00", 1_795_923_045_500_000_000),
        ("2026-11-29 03:30:45.123456+0000", 1_795_923_045_123_456_000),
        ("2026-11-29T03:30:45.123456", None),
        ("2026-13-29T03:30:45Z", None),
        ("yesterday", None),
        ("1795923045", None),
    ],
    ids=["micros-Z", "nanos-Z", "no-fraction", "plus-offset", "minus-offset", "space-no-colon",
         "no-zone", "month-13", "words", "epoch-number"],
)
def test_parse_rfc3339_ns(text: str, expected: int | None) -> None:
    """RFC 3339 times parse to unix nanoseconds without losing digits; others give None."""
    assert parse_rfc3339_ns(text) == expected


@pytest.mark.parametrize(
    ("line", "level", "ts_ns"),
    [
        (json.dumps({"timestamp": "2026-11-29T03:30:45.123456Z", "level": "ERROR",
                     "message": "boom"}), "ERROR", 1_795_923_045_123_456_000),
        (json.dumps({"timestamp": "2026-11-29T03:30:45.123456Z", "level": "INFO"}),
         "INFO", 1_795_923_045_123_456_000),
        (json.dumps({"timestamp": "not a time", "level": "WARNING"}), "WARNING", READ_NS),
        (json.dumps({"message": "no level, no time"}), "unknown", READ_NS),
        (json.dumps({"level": 40, "timestamp": 1795923045}), "unknown", READ_NS),
        (json.dumps(["a", "list"]), "unknown", READ_NS),
        ("Traceback (most recent call last):", "unknown", READ_NS),
        ("", "unknown", READ_NS),
    ],
    ids=["error", "info", "bad-timestamp", "no-fields", "non-string-fields", "json-list",
         "plain-text", "empty"],
)
def test_make_entry_labels_and_time(line: str, level: str, ts_ns: int) -> None:
    """Level becomes a label as logged, time comes from the line or else the read time."""
    entry = make_entry(line, {"job": "llm-api"}, READ_NS)
    assert dict(entry.labels) == {"job": "llm-api", "level": level}
    assert entry.ts_ns == ts_ns
    assert entry.line == line


def test_push_payload_groups_by_label_set_in_order() -> None:
    """Entries with the same labels share one stream, keeping their order."""
    lines = [{"level": "INFO", "n": 1}, {"level": "ERROR", "n": 2}, {"level": "INFO", "n": 3}]
    entries = [make_entry(json.dumps(d), {"job": "llm-api"}, READ_NS + i)
               for i, d in enumerate(lines)]
    payload = push_payload(entries)
    streams = {s["stream"]["level"]: s for s in payload["streams"]}
    assert set(streams) == {"INFO", "ERROR"}
    assert streams["INFO"]["stream"] == {"job": "llm-api", "level": "INFO"}
    assert [json.loads(v[1])["n"] for v in streams["INFO"]["values"]] == [1, 3]
    assert streams["INFO"]["values"][0][0] == str(READ_NS)  # Loki wants ns as a string


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (["job=llm-api"], {"job": "llm-api"}),
        (["job=llm-api", "env=lab"], {"job": "llm-api", "env": "lab"}),
        (["url=http://x/?a=b"], {"url": "http://x/?a=b"}),
        (["empty="], {"empty": ""}),
    ],
    ids=["one", "two", "equals-in-value", "empty-value"],
)
def test_parse_labels(pairs: list[str], expected: dict[str, str]) -> None:
    """k=v pairs become static labels."""
    assert parse_labels(pairs) == expected


@pytest.mark.parametrize(
    ("pair", "match"),
    [("job", "name=value"), ("1job=x", "name=value"), ("my-job=x", "name=value"),
     ("__name__=x", "__"), ("level=x", "comes from each log line")],
    ids=["no-equals", "leading-digit", "dash", "reserved", "level"],
)
def test_parse_labels_refuses_bad_names(pair: str, match: str) -> None:
    """A label Loki would refuse, or one that clashes with level, is a clear error."""
    with pytest.raises(ValueError, match=match):
        parse_labels([pair])


def test_positions_round_trip(tmp_path: Path) -> None:
    """Saved positions load back equal, and no temporary file is left behind."""
    states = {"1:2": FileState(path="/x/gateway.log.1", offset=120, head="ab"),
              "1:3": FileState(path="/x/gateway.log", offset=0, head=None)}
    target = tmp_path / "shipper" / "positions.json"
    save_positions(target, states)
    assert load_positions(target) == states
    assert [p.name for p in target.parent.iterdir()] == ["positions.json"]


def test_missing_positions_file_means_start_from_scratch(tmp_path: Path) -> None:
    """No positions file is an empty state, not an error."""
    assert load_positions(tmp_path / "nope.json") == {}


@pytest.mark.parametrize("content", ["{not json", '{"version": 99, "files": {}}', "[]"],
                         ids=["broken-json", "other-version", "wrong-shape"])
def test_unreadable_positions_file_says_what_to_do(tmp_path: Path, content: str) -> None:
    """A corrupt positions file is refused with the way out in the message."""
    target = tmp_path / "positions.json"
    target.write_text(content)
    with pytest.raises(ValueError, match="delete it"):
        load_positions(target)
