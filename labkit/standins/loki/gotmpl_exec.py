"""Execute parsed Go templates (``gotmpl_parse``) with Go's value rules.

Values: ``str``, ``int``, ``float`` (Go's float64), ``bool``, ``None`` (nil), ``dict``
(a map, printed ``map[k:v]``), ``list`` (``[a b]``) and ``GoTime``. The data is the line's
labels; with ``missingkey=zero`` a missing label reads "". Each function declares its
parameter types ("s" string, "i" int, "f" float64, "t" time, "a" anything, "*" the rest
as anything), and an argument of the wrong type fails as in Go
(``wrong type for value; expected string; got int``). The output is capped, so
``repeat``/``range`` cannot exhaust memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from labkit.standins.loki.golayout import GoTime
from labkit.standins.loki.gotmpl_fmt import show, truth, type_name
from labkit.standins.loki.gotmpl_parse import Branch, Operand, Pipeline

MAX_OUTPUT = 1 << 20  # characters one template may produce
MAX_ITERATIONS = 100_000  # range iterations per execution


class TemplateExecError(ValueError):
    """Executing the template failed (Loki sets __error__=TemplateFormatErr)."""


@dataclass(frozen=True)
class Func:
    fn: Callable[..., Any]
    params: str  # one letter per parameter; "*" at the end: any number more


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def convert(v: Any, kind: str, fn: str) -> Any:
    """Check (and for untyped numbers, convert) an argument to a parameter's type."""
    if kind in ("a", "*"):
        return v
    want = {"s": "string", "i": "int", "f": "float64", "t": "time.Time"}[kind]
    if v is None:
        raise TemplateExecError(f"error calling {fn}: invalid value; expected {want}")
    ok = {
        "s": isinstance(v, str),
        "i": isinstance(v, int) and not isinstance(v, bool),
        "f": isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)),
        "t": isinstance(v, GoTime),
    }[kind]
    if not ok:
        raise TemplateExecError(
            f"wrong type for value; expected {want}; got {type_name(v)}"
        )
    return float(v) if kind == "f" else v


class Executor:
    """One template's execution state: the functions, the variables, the output size."""

    def __init__(self, funcs: Mapping[str, Func], data: Mapping[str, str], name: str) -> None:
        self.funcs, self.data, self.name = funcs, data, name
        self.vars: list[dict[str, Any]] = [{"$": data}]
        self.size = 0
        self.iterations = 0

    def fail(self, where: str, msg: str) -> TemplateExecError:
        return TemplateExecError(f'template: {self.name}:1: executing "{self.name}" '
                                 f"at <{where}>: {msg}")

    def run(self, nodes: list[object], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                self._emit(out, node)
            elif isinstance(node, Pipeline):
                value = self.pipeline(node, dot)
                if not node.decl:
                    self._emit(out, show(value))
            elif isinstance(node, Branch):
                self.branch(node, dot, out)
            elif node == "break":
                raise _Break
            else:
                raise _Continue

    def _emit(self, out: list[str], text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateExecError(f"template output exceeds {MAX_OUTPUT} characters")
        out.append(text)

    def branch(self, node: Branch, dot: Any, out: list[str]) -> None:
        self.vars.append({})
        try:
            if node.kind == "range":
                self._range(node, dot, out)
                return
            value = self.pipeline(node.pipe, dot)
            if truth(value):
                self.run(node.body, value if node.kind == "with" else dot, out)
            else:
                self.run(node.else_body, dot, out)
        finally:
            self.vars.pop()

    def _range(self, node: Branch, dot: Any, out: list[str]) -> None:
        decl, node.pipe.decl = node.pipe.decl, []
        try:
            value = self.pipeline(node.pipe, dot)
        finally:
            node.pipe.decl = decl
        if isinstance(value, dict):
            items: list[tuple[Any, Any]] = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(max(value, 0))]
        elif value is None:
            items = []
        else:
            raise self.fail(node.pipe.text, f"range can't iterate over {show(value)}")
        if not items:
            self.run(node.else_body, dot, out)
            return
        for key, elem in items:
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise TemplateExecError(f"range: more than {MAX_ITERATIONS} iterations")
            if len(decl) == 1:
                self.vars[-1][decl[0]] = elem
            elif len(decl) == 2:
                self.vars[-1][decl[0]], self.vars[-1][decl[1]] = key, elem
            try:
                self.run(node.body, elem, out)
            except _Break:
                break
            except _Continue:
                continue

    def pipeline(self, pipe: Pipeline, dot: Any) -> Any:
        value: Any = _NOTHING
        for cmd in pipe.commands:
            value = self.command(cmd, dot, value, pipe.text)
        if pipe.decl:
            if pipe.assign:
                for scope in reversed(self.vars):
                    if pipe.decl[0] in scope:
                        scope[pipe.decl[0]] = value
                        break
            else:
                self.vars[-1][pipe.decl[0]] = value
        return value

    def command(self, args: list[Operand], dot: Any, final: Any, where: str) -> Any:
        head = args[0]
        if head.kind == "ident":
            extra = [] if final is _NOTHING else [final]
            return self.call(head.value, args[1:], dot, extra, where)  # type: ignore[arg-type]
        if len(args) > 1 or final is not _NOTHING:
            raise self.fail(where, f"can't give argument to non-function {head.text}")
        return self.operand(head, dot, where)

    def operand(self, op: Operand, dot: Any, where: str) -> Any:
        if op.kind == "lit":
            return op.value
        if op.kind == "dot":
            return dot
        if op.kind == "field":
            return self.fields(dot, op.value, where)  # type: ignore[arg-type]
        if op.kind == "var":
            for scope in reversed(self.vars):
                if op.value in scope:
                    return self.fields(scope[op.value], op.chain, where)  # type: ignore[index]
            raise self.fail(where, f"undefined variable: {op.value}")
        if op.kind == "pipe":
            return self.fields(self.pipeline(op.value, dot), op.chain, where)  # type: ignore[arg-type]
        return self.call(op.value, [], dot, [], where)  # type: ignore[arg-type]

    def fields(self, value: Any, chain: tuple[str, ...], where: str) -> Any:
        for name in chain:
            if isinstance(value, Mapping):
                value = value.get(name, "" if value is self.data else None)
            else:
                raise self.fail(where, f"can't evaluate field {name} in type {type_name(value)}")
        return value

    def call(self, name: str, args: list[Operand], dot: Any, extra: list[Any],
             where: str) -> Any:
        f = self.funcs[name]
        if name in ("and", "or"):  # short-circuit, return the deciding value
            values = [*args, *extra]
            result: Any = None
            for a in values:
                result = a if not isinstance(a, Operand) else self.operand(a, dot, where)
                if truth(result) != (name == "and"):
                    return result
            return result
        values = [self.operand(a, dot, where) for a in args] + extra
        params = f.params
        fixed = params.rstrip("*")
        if len(values) < len(fixed) or (len(values) > len(fixed) and not params.endswith("*")):
            raise self.fail(where, f"wrong number of args for {name}: want {len(fixed)} "
                                   f"got {len(values)}")
        conv = [convert(v, fixed[i] if i < len(fixed) else "*", name)
                for i, v in enumerate(values)]
        try:
            return f.fn(*conv)
        except TemplateExecError as exc:
            raise self.fail(where, f"error calling {name}: {exc}") from None
        except (ValueError, TypeError, ArithmeticError, OverflowError, IndexError,
                KeyError) as exc:
            raise self.fail(where, f"error calling {name}: {exc}") from None


_NOTHING = object()
