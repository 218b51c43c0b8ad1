"""Loki's pattern expressions: the ``| pattern`` parser and the ``|>``/``!>`` line filters.

A pattern is literal text and captures ``<name>`` (``<_>`` captures nothing). Matching is
Loki's (``pkg/logql/log/pattern``), not a regular expression: each literal is looked for
once, left to right. For the parser, a literal that is not found ends the match, and the
capture before it takes the rest of the line; the line filter instead needs every literal,
no empty capture, and the line to end where the pattern does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CAPTURE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


class PatternError(ValueError):
    """The pattern is malformed (no capture, consecutive or duplicate captures)."""


@dataclass(frozen=True)
class Pattern:
    """Alternating nodes: ``str`` literals and ``(name,)`` captures."""

    nodes: tuple[str | tuple[str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n[0] for n in self.nodes if isinstance(n, tuple) and n[0] != "_")

    def extract(self, line: str) -> list[str] | None:
        """The named captures in order (Loki's ``Matches``), or None when it cannot anchor."""
        if not line or not self.nodes:
            return None
        nodes = list(self.nodes)
        rest = line
        if isinstance(nodes[0], str):
            if not rest.startswith(nodes[0]):
                return None
            rest = rest[len(nodes[0]):]
            nodes = nodes[1:]
        if not nodes:
            return None
        out: list[str] = []
        while nodes:
            cap = nodes[0]
            assert isinstance(cap, tuple)
            if len(nodes) == 1:
                if cap[0] != "_":
                    out.append(rest)
                return out
            lit = nodes[1]
            assert isinstance(lit, str)
            nodes = nodes[2:]
            i = rest.find(lit)
            if i < 0:
                if cap[0] != "_":
                    out.append(rest)
                return out
            if cap[0] != "_":
                out.append(rest[:i])
            rest = rest[i + len(lit):]
        return out

    def test(self, line: str) -> bool:
        """Loki's ``Test``: does the whole line match the pattern (for ``|>``)?"""
        if not line or not self.nodes:
            return not line and not self.nodes
        off = 0
        for i, node in enumerate(self.nodes):
            if not isinstance(node, str):
                continue
            j = line.find(node, off)
            if j < 0:
                return False
            j -= off
            if i != 0 and j == 0:
                return False  # an empty capture, or repeated literals
            off += j + len(node)
        ends_on_capture = isinstance(self.nodes[-1], tuple)
        return ends_on_capture == (off != len(line))


def parse_pattern(text: str, *, line_filter: bool = False) -> Pattern:
    """Compile a pattern; a line filter's may only use ``<_>``; a parser's needs a capture."""
    pieces = _CAPTURE.split(text)
    nodes: list[str | tuple[str]] = []
    seen: set[str] = set()
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if piece:
                nodes.append(piece)
            continue
        if nodes and isinstance(nodes[-1], tuple):
            raise PatternError(
                f"found consecutive capture '<{piece}>': pattern captures need a literal "
                "between them: invalid expression"
            )
        if piece != "_":
            if line_filter:
                raise PatternError("named captures are not allowed (use <_> in |> and !>)")
            if piece in seen:
                raise PatternError(f"duplicate capture name ({piece}): invalid expression")
            seen.add(piece)
        nodes.append((piece,))
    pattern = Pattern(tuple(nodes))
    if not line_filter and not pattern.names:
        raise PatternError("at least one capture is required")
    return pattern
