"""stack/alloy/config.alloy wires the same pipeline as labkit's shipper."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "stack" / "alloy" / "config.alloy"


_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*')


def uncommented() -> str:
    """The config without its // comments (a // inside a string, as in a URL, stays)."""
    text = CONFIG.read_text(encoding="utf-8")
    return _STRING_OR_COMMENT.sub(lambda m: "" if m[0].startswith("//") else m[0], text)


def code() -> str:
    """The config without comments or string contents (so braces in strings do not count)."""
    return _STRING_OR_COMMENT.sub(lambda m: "" if m[0].startswith("//") else '""',
                                  CONFIG.read_text(encoding="utf-8"))


def blocks() -> dict[str, str]:
    """Top-level components: 'kind.name "label"' -> body."""
    text = uncommented()
    found: dict[str, str] = {}
    for m in re.finditer(r'^([a-z_.]+) "([a-z_]+)" \{', text, flags=re.M):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found[f"{m.group(1)}.{m.group(2)}"] = text[m.end():i - 1]
    return found


def test_brackets_balance() -> None:
    """Every brace and bracket is closed, outside strings and comments."""
    text = code()
    for open_, close in ("{}", "[]", "()"):
        assert text.count(open_) == text.count(close), f"unbalanced {open_}{close}"


def test_every_reference_names_a_defined_component() -> None:
    """forward_to and targets point at components defined in the file."""
    defined = set(blocks())
    refs = re.findall(r"\b((?:local|loki)\.[a-z_.]+)\.(?:receiver|targets)\b", code())
    assert refs, "no component references found"
    for ref in refs:
        assert ref in defined, f"{ref} is referenced but not defined"


@pytest.mark.parametrize(("component", "needle"), [
    ("local.file_match.gateway", '"__path__" = "/var/log/labkit/gateway.log"'),
    ("loki.source.file.gateway", "forward_to = [loki.process.gateway.receiver]"),
    ("loki.process.gateway", "stage.json"),
    ("loki.process.gateway", "stage.labels"),
    ("loki.process.gateway", 'source = "timestamp"'),
    ("loki.process.gateway", 'format = "RFC3339Nano"'),
    ("loki.process.gateway", 'job = "llm-api"'),
    ("loki.write.loki", 'url = "http://loki:3100/loki/api/v1/push"'),
], ids=["path", "source-to-process", "json", "labels", "ts-source", "ts-format", "job", "url"])
def test_pipeline_stage(component: str, needle: str) -> None:
    """Each part of the shipper's pipeline is in the right component."""
    assert needle in blocks()[component]


def test_level_label_and_stage_order() -> None:
    """level is extracted before it becomes a label and before the timestamp stage."""
    body = blocks()["loki.process.gateway"]
    assert body.index("stage.json") < body.index("stage.labels") < body.index("stage.timestamp")
    assert re.search(r"stage\.labels \{\s*values = \{\s*level = \"\"", body)


def test_mentions_promtail_end_of_life() -> None:
    """The comment records why Alloy and not Promtail."""
    assert "Promtail, which reached end of life on 2026-03-02" in CONFIG.read_text()
