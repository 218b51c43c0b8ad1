"""Go templates for ``line_format`` and ``label_format``, as Loki runs them.

``parse_template`` compiles the source with the Go ``text/template`` subset of
``gotmpl_parse`` and the functions of ``templatefns``; ``Template.render`` executes it on a
line's labels (a missing label reads "", Loki's ``missingkey=zero``), with ``__line__``
and ``__timestamp__`` answering for the line at hand. A template that fails while running
raises TemplateExecError, which the pipeline turns into ``__error__=TemplateFormatErr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from labkit.standins.loki.golayout import GoTime
from labkit.standins.loki.gotmpl_exec import Executor, Func, TemplateExecError
from labkit.standins.loki.gotmpl_parse import Branch, Pipeline, TemplateSyntaxError, parse
from labkit.standins.loki.templatefns import FUNCTIONS

__all__ = ["Template", "TemplateError", "TemplateExecError", "parse_template"]


class TemplateError(ValueError):
    """The template does not compile (Loki answers the query with 400)."""


class _LineExecutor(Executor):
    def __init__(self, funcs: Mapping[str, Func], data: Mapping[str, str], name: str,
                 line: str, ts_ns: int) -> None:
        super().__init__(funcs, data, name)
        self.line, self.ts_ns = line, ts_ns

    def call(self, name: str, args: list, dot: object, extra: list, where: str) -> object:  # type: ignore[type-arg]
        if name == "__line__":
            return self.line
        if name == "__timestamp__":
            return GoTime(self.ts_ns)
        return super().call(name, args, dot, extra, where)


@dataclass(frozen=True)
class Template:
    source: str
    nodes: tuple[object, ...] = field(compare=False)
    name: str = "line"

    def render(self, labels: Mapping[str, str], line: str, ts_ns: int) -> str:
        """The template's output for one line; raise TemplateExecError when it fails."""
        if len(self.nodes) == 1 and isinstance(self.nodes[0], str):
            return self.nodes[0]
        out: list[str] = []
        ex = _LineExecutor(FUNCTIONS, labels, self.name, line, ts_ns)
        try:
            ex.run(list(self.nodes), labels, out)
        except (ValueError, ArithmeticError, RecursionError) as exc:  # e.g. a time past 9999
            if isinstance(exc, TemplateExecError):
                raise
            raise TemplateExecError(f"template: {self.name}:1: {exc}") from None
        return "".join(out)

    def fields(self) -> set[str]:
        """Labels the template reads as ``.name`` (for query planning)."""
        names: set[str] = set()
        _collect(list(self.nodes), names)
        return names


def _collect(nodes: list[object], names: set[str]) -> None:
    for n in nodes:
        if isinstance(n, Branch):
            _collect_pipe(n.pipe, names)
            _collect(n.body, names)
            _collect(n.else_body, names)
        elif isinstance(n, Pipeline):
            _collect_pipe(n, names)


def _collect_pipe(p: Pipeline, names: set[str]) -> None:
    for cmd in p.commands:
        for op in cmd:
            if op.kind == "field":
                names.add(op.value[0])  # type: ignore[index]
            elif op.kind == "pipe":
                _collect_pipe(op.value, names)  # type: ignore[arg-type]


def parse_template(source: str, name: str = "line_format", label: str = "") -> Template:
    """Compile ``source`` (``name``: line_format or label_format; ``label``: the label a
    label_format template sets); raise TemplateError worded as Loki words it."""
    short = "line" if name == "line_format" else "label"
    try:
        nodes = parse(source, short, FUNCTIONS)
    except TemplateSyntaxError as exc:
        if short == "line":
            raise TemplateError(f"invalid line template: {exc}") from None
        raise TemplateError(f"invalid template for label '{label}': {exc}") from None
    return Template(source, tuple(nodes), short)
