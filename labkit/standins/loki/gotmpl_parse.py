"""Parse Go ``text/template`` source (what ``line_format``/``label_format`` take) into nodes.

Covers the language Loki's templates use: text, ``{{- -}}`` trimming, comments, pipelines
of commands with ``|``, fields (``.a``, ``.a.b``, ``.``), variables (``$``, ``$x``,
``$x := ...``, ``$x = ...``), string/raw/char/number/bool/nil literals, parenthesized
pipelines, function calls, and ``if``/``else if``/``else``, ``range`` (with ``else``,
``break``, ``continue``), ``with``. ``define``/``template``/``block`` are refused.
Errors read like Go's: ``template: line:1: function "foo" not defined``.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.)+')
    |(?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
    |(?P<decl>:=)
    |(?P<field>(?:\.[A-Za-z_]\w*)+)
    |(?P<dot>\.)
    |(?P<var>\$\w*)
    |(?P<ident>[A-Za-z_]\w*)
    |(?P<punct>[|(),=])
    """,
    re.X | re.S,
)
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template",
             "block"}
_SIMPLE_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"', "'": "'"}


class TemplateSyntaxError(ValueError):
    """The template does not parse (Go's wording)."""


@dataclass
class Operand:
    kind: str  # field dot var lit ident pipe
    value: object = None  # names / literal / nested Pipeline
    chain: tuple[str, ...] = ()  # .a.b after a variable or a parenthesized pipeline
    text: str = ""


@dataclass
class Pipeline:
    commands: list[list[Operand]]
    decl: list[str] = field(default_factory=list)
    assign: bool = False  # `=` rather than `:=`
    text: str = ""


@dataclass
class Branch:
    kind: str  # if range with
    pipe: Pipeline
    body: list[object]
    else_body: list[object] = field(default_factory=list)


def unquote_go(text: str) -> str:
    """A Go string, raw string or char literal's value."""
    if text[0] == "`":
        return text[1:-1]
    body = text[1:-1]
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _SIMPLE_ESC:
            out.append(_SIMPLE_ESC[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            out.append(chr(int(body[i + 2:i + 2 + width], 16)))
            i += 2 + width
        elif e.isdigit():
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise TemplateSyntaxError(f"invalid syntax: unknown escape \\{e}")
    return "".join(out)


def _number(text: str) -> int | float:
    t = text.replace("_", "")
    if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", t):
        return int(t, 16)
    if re.fullmatch(r"[+-]?\d+", t):
        return int(t)
    return float(t)


class _Parser:
    def __init__(self, source: str, name: str, functions: Container[str]) -> None:
        self.src, self.name, self.functions = source, name, functions
        self.pos = 0
        self.vars: list[set[str]] = [{"$"}]
        self.loop_depth = 0
        self.lstrip_next = False
        self.pending = ""

    def fail(self, msg: str) -> TemplateSyntaxError:
        line = self.src.count("\n", 0, self.pos) + 1
        return TemplateSyntaxError(f"template: {self.name}:{line}: {msg}")

    # -- the text/action level
    def parse_list(self, stop: tuple[str, ...]) -> tuple[list[object], str]:
        """Nodes up to one of the ``stop`` keywords' actions; returns (nodes, keyword)."""
        nodes: list[object] = []
        while True:
            start = self.src.find("{{", self.pos)
            text = self.src[self.pos:] if start < 0 else self.src[self.pos:start]
            left_trim = start >= 0 and self.src[start + 2:start + 4] in ("- ", "-\t", "-\n")
            if left_trim:
                text = text.rstrip()
            if self.lstrip_next:
                text, self.lstrip_next = text.lstrip(), False
            if text:
                nodes.append(text)
            if start < 0:
                self.pos = len(self.src)
                if stop:
                    raise self.fail("unexpected EOF")
                return nodes, ""
            self.pos = start + (3 if left_trim else 2)
            end = self._action_end()
            body = self.src[self.pos:end].strip()
            if self.src[end - 2:end] in (" -", "\t-", "\n-"):
                body = body[:-1].rstrip()
                self.lstrip_next = True
            self.pos = end + 2
            if body.startswith("/*"):
                if not body.endswith("*/"):
                    raise self.fail("unclosed comment")
                continue
            word = body.split(None, 1)[0] if body else ""
            if word in stop:
                self.pending = body[len(word):].strip()
                return nodes, word
            nodes.append(self.parse_action(body))

    def _action_end(self) -> int:
        i, quote = self.pos, ""
        while i < len(self.src):
            c = self.src[i]
            if quote:
                if c == "\\" and quote != "`":
                    i += 2
                    continue
                if c == quote:
                    quote = ""
            elif c in "\"`'":
                quote = c
            elif self.src.startswith("}}", i):
                return i
            elif self.src.startswith("/*", i) and self.src[self.pos:i].strip() == "":
                close = self.src.find("*/", i)
                if close < 0:
                    raise self.fail("unclosed comment")
                i = close + 2
                continue
            i += 1
        raise self.fail("unclosed action")

    def parse_action(self, body: str) -> object:
        word = body.split(None, 1)[0] if body else ""
        if word in ("if", "range", "with"):
            return self._branch(word, body[len(word):])
        if word in ("break", "continue"):
            if not self.loop_depth:
                raise self.fail(f"{{{{{word}}}}} outside {{{{range}}}}")
            return word
        if word in ("end", "else"):
            raise self.fail(f"unexpected {{{{{word}}}}}")
        if word in ("define", "template", "block"):
            raise self.fail(f"{{{{{word}}}}} is not supported in LogQL templates")
        if not body:
            raise self.fail("missing value for command")
        return self.parse_pipeline(body)

    def _branch(self, kind: str, head: str) -> Branch:
        self.vars.append(set())
        pipe = self.parse_pipeline(head, allow_two=kind == "range")
        if kind == "range":
            self.loop_depth += 1
        body, word = self.parse_list(("else", "end"))
        if kind == "range":
            self.loop_depth -= 1
        node = Branch(kind, pipe, body)
        self.vars.pop()
        if word == "else":
            rest = self.pending
            sub_kind = rest.split(None, 1)[0] if rest else ""
            if sub_kind == kind and kind in ("if", "with"):
                node.else_body = [self._branch(sub_kind, rest[len(sub_kind):])]
                return node
            if rest:
                raise self.fail(f"unexpected {rest!r} in else")
            self.vars.append(set())
            node.else_body, _ = self.parse_list(("end",))
            self.vars.pop()
        elif self.pending:
            raise self.fail(f"unexpected {self.pending!r} in end")
        return node

    # -- pipelines
    def parse_pipeline(self, text: str, allow_two: bool = False) -> Pipeline:
        tokens = self._lex(text)
        pipe = Pipeline([], text=text.strip())
        # declarations: $x := / $x, $y := / $x =
        if tokens and tokens[0][0] == "var":
            k = 1
            names = [tokens[0][1]]
            if allow_two and len(tokens) > 3 and tokens[1] == ("punct", ",") \
                    and tokens[2][0] == "var":
                names.append(tokens[2][1])
                k = 3
            if len(tokens) > k and (tokens[k][0] == "decl" or tokens[k] == ("punct", "=")):
                pipe.decl, pipe.assign = names, tokens[k][0] != "decl"
                for n in names:
                    if pipe.assign and not any(n in scope for scope in self.vars):
                        raise self.fail(f'undefined variable "{n}"')
                tokens = tokens[k + 1:]
        pos, cmds = 0, []
        while True:
            cmd, pos = self._command(tokens, pos)
            cmds.append(cmd)
            if pos >= len(tokens):
                break
            if tokens[pos] != ("punct", "|"):
                raise self.fail(f"unexpected {tokens[pos][1]!r} in command")
            pos += 1
        pipe.commands = cmds
        if not pipe.assign:
            self.vars[-1].update(pipe.decl)
        return pipe

    def _command(self, tokens: list[tuple[str, str]], pos: int) -> tuple[list[Operand], int]:
        args: list[Operand] = []
        while pos < len(tokens) and tokens[pos] not in (("punct", "|"), ("punct", ")")):
            op, pos = self._operand(tokens, pos)
            args.append(op)
        if not args:
            raise self.fail("missing value for command")
        return args, pos

    def _operand(self, tokens: list[tuple[str, str]], pos: int) -> tuple[Operand, int]:
        kind, text = tokens[pos]
        pos += 1
        if kind == "field":
            return Operand("field", tuple(text[1:].split(".")), text=text), pos
        if kind == "dot":
            return Operand("dot", text="."), pos
        if kind == "var":
            name = text
            if not any(name in scope for scope in self.vars):
                raise self.fail(f'undefined variable "{name}"')
            chain = self._chain(tokens, pos)
            return Operand("var", name, chain[0], text=text), chain[1]
        if kind in ("str", "raw", "char"):
            v = unquote_go(text)
            return Operand("lit", ord(v) if kind == "char" else v, text=text), pos
        if kind == "num":
            return Operand("lit", _number(text), text=text), pos
        if kind == "ident":
            if text in ("true", "false"):
                return Operand("lit", text == "true", text=text), pos
            if text == "nil":
                return Operand("lit", None, text=text), pos
            if text in _KEYWORDS:
                raise self.fail(f"unexpected <{text}> in command")
            if text not in self.functions:
                raise self.fail(f'function "{text}" not defined')
            return Operand("ident", text, text=text), pos
        if (kind, text) == ("punct", "("):
            depth, end = 1, pos
            while end < len(tokens) and depth:
                depth += {"(": 1, ")": -1}.get(tokens[end][1], 0) if tokens[end][0] == "punct" \
                    else 0
                end += 1
            if depth:
                raise self.fail("unclosed left paren")
            inner = self._sub_pipeline(tokens[pos:end - 1])
            chain = self._chain(tokens, end)
            return Operand("pipe", inner, chain[0], text="(...)"), chain[1]
        raise self.fail(f"unexpected {text!r} in operand")

    def _chain(self, tokens: list[tuple[str, str]], pos: int) -> tuple[tuple[str, ...], int]:
        if pos < len(tokens) and tokens[pos][0] == "field":
            return tuple(tokens[pos][1][1:].split(".")), pos + 1
        return (), pos

    def _sub_pipeline(self, tokens: list[tuple[str, str]]) -> Pipeline:
        pos, cmds = 0, []
        while True:
            cmd, pos = self._command(tokens, pos)
            cmds.append(cmd)
            if pos >= len(tokens):
                return Pipeline(cmds)
            pos += 1  # the |

    def _lex(self, text: str) -> list[tuple[str, str]]:
        out, pos = [], 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise self.fail(f"unexpected {text[pos]!r} in command")
            kind = m.lastgroup or ""
            value = m.group(kind)
            if kind != "ws":
                out.append((kind, value))
            pos = m.end()
        return out


def parse(source: str, name: str, functions: Container[str]) -> list[object]:
    """The template's nodes: ``str`` text, ``Pipeline`` actions, ``Branch`` blocks,
    and ``"break"``/``"continue"``."""
    nodes, _ = _Parser(source, name, functions).parse_list(())
    return nodes
