"""The part of Go's text/template that line_format and label_format need.

Supported: literal text, ``{{.label}}``, ``{{ .label }}``, ``{{__line__}}``,
``{{__timestamp__}}``, string literals, and pipelines through the functions in
``FUNCTIONS`` (``{{ .level | ToUpper }}``). Anything else is refused when parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC

FUNCTIONS: dict[str, Callable[[str], str]] = {
    "ToUpper": str.upper, "upper": str.upper, "ToLower": str.lower, "lower": str.lower,
    "TrimSpace": str.strip, "trim": str.strip, "title": str.title, "Title": str.title,
}
_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
_FIELD = re.compile(r"^\.([A-Za-z_][A-Za-z0-9_]*)$")
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$|^`([^`]*)`$')

Func = Callable[[str], str]
# ((kind, arg), functions): kind is "field" | "line" | "timestamp" | "literal"
Action = tuple[tuple[str, str], tuple[Func, ...]]


class TemplateError(ValueError):
    """The template uses something outside the supported subset, or is malformed."""


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Action, ...]  # str literal, or (head, functions)

    def fields(self) -> set[str]:
        """Labels the template reads (for query planning)."""
        return {p[0][1] for p in self.parts if isinstance(p, tuple) and p[0][0] == "field"}

    def render(self, labels: Mapping[str, str], line: str, ts_ns: int) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            (kind, arg), funcs = part
            if kind == "field":
                value = labels.get(arg, "")
            elif kind == "line":
                value = line
            elif kind == "timestamp":
                value = _go_time(ts_ns)
            else:
                value = arg
            for fn in funcs:
                value = fn(value)
            out.append(value)
        return "".join(out)


def _go_time(ts_ns: int) -> str:
    from datetime import datetime

    dt = datetime.fromtimestamp(ts_ns // 10**9, tz=UTC)
    return (
        dt.strftime("%Y-%m-%d %H:%M:%S")
        + f".{ts_ns % 10**9:09d}".rstrip("0").rstrip(".")
        + " +0000 UTC"
    )


def parse_template(source: str, name: str = "line_format") -> Template:
    """Compile ``source``; raise TemplateError naming the offending action."""
    parts: list[str | Action] = []
    pos = 0
    for m in _ACTION.finditer(source):
        text = source[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        if parts and isinstance(parts[-1], str) and parts[-1] == "\x00trim":
            parts.pop()
            text = text.lstrip()
        if text:
            parts.append(text)
        parts.append(_parse_action(m.group(2).strip(), name))
        if m.group(3):
            parts.append("\x00trim")
        pos = m.end()
    tail = source[pos:]
    if parts and parts[-1] == "\x00trim":
        parts.pop()
        tail = tail.lstrip()
    if "{{" in tail:
        raise TemplateError(f"template: {name}:1: unclosed action")
    if tail:
        parts.append(tail)
    return Template(source, tuple(parts))


def _parse_action(body: str, name: str) -> Action:
    commands = [c.strip() for c in body.split("|")]
    head = commands[0]
    if m := _FIELD.match(head):
        parsed = ("field", m.group(1))
    elif head == "__line__":
        parsed = ("line", "")
    elif head == "__timestamp__":
        parsed = ("timestamp", "")
    elif m := _STRING.match(head):
        parsed = ("literal", m.group(1) if m.group(1) is not None else m.group(2))
    else:
        raise TemplateError(
            f"template: {name}:1: unsupported action {{{{{body}}}}}: the stand-in supports "
            f"{{{{.label}}}}, __line__, __timestamp__ and the functions "
            f"{', '.join(sorted(FUNCTIONS))}"
        )
    funcs: list[Func] = []
    for c in commands[1:]:
        if c not in FUNCTIONS:
            raise TemplateError(f'template: {name}:1: function "{c}" not defined')
        funcs.append(FUNCTIONS[c])
    return parsed, tuple(funcs)
