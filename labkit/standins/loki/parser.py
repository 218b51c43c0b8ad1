"""Parse LogQL text into the syntax tree of ``syntax.py`` with a lark LALR grammar.

Every refusal raises :class:`LogQLParseError` whose message reads like Loki's
(``parse error at line 1, col 12: syntax error: unexpected IDENTIFIER``), so the
server can answer 400 with it.
"""


import functools
import re
from importlib.resources import files

from lark import Lark
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.semantics import SemanticError, unquote
from labkit.standins.loki.transform import ToTree

__all__ = ["LogQLParseError", "parse", "unquote"]


class LogQLParseError(ValueError):
    """The query is malformed or uses LogQL outside the supported subset."""


@functools.cache
def _lark() -> Lark:
    grammar = files("labkit.standins.loki").joinpath("logql.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=False,
        maybe_placeholders=True,
    )


_TOKEN_NAMES = {
    "$END": "end of input",
    "LBRACE": "{",
    "RBRACE": "}",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "COMMA": ",",
    "EQUAL": "=",
}


def _describe(token_type: str) -> str:
    return _TOKEN_NAMES.get(token_type, token_type)


def parse(query: str) -> syn.Query:
    """Parse ``query``; raise LogQLParseError with Loki-style text when it is refused."""
    if not query.strip():
        raise LogQLParseError(
            "parse error : syntax error: unexpected end of input, the query is empty"
        )
    try:
        tree = _lark().parse(query)
        return ToTree().transform(tree)  # type: ignore[no-any-return]
    except VisitError as exc:
        err = exc.orig_exc
        if isinstance(err, SemanticError):
            tok = err.token
            where = f"at line {tok.line}, col {tok.column}" if tok is not None and tok.line else ""
            raise LogQLParseError(f"parse error {where}: {err}".replace("  ", " ")) from None
        raise LogQLParseError(f"parse error : {err}") from None
    except SemanticError as err:
        raise LogQLParseError(f"parse error : {err}") from None
    except UnexpectedInput as exc:
        raise LogQLParseError(_syntax_message(exc, query) + _unsupported_hint(query)) from None


# Constructs of Loki's LogQL the stand-in refuses (docs/logql.md); a syntax error in a query
# using one says which.
_UNSUPPORTED = re.compile(
    r"\b(unpack|rate_counter|sort_desc|sort|count_values|variants|absent|distinct|"
    r"first_over_time_by|sum_over_time_by)\b"
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')


def _unsupported_hint(query: str) -> str:
    m = _UNSUPPORTED.search(_STRINGS.sub('""', query))
    if m is None:
        return ""
    return f" (the labkit stand-in does not support `{m.group(1)}`; see docs/logql.md)"


def _syntax_message(exc: UnexpectedInput, query: str) -> str:
    line, col = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream  # Optional on UnexpectedInput, always set by UnexpectedCharacters
        ch = query[pos] if pos is not None and pos < len(query) else ""
        if ch in '"`':
            return f"parse error at line {line}, col {col}: literal not terminated"
        return f"parse error at line {line}, col {col}: syntax error: unexpected character {ch!r}"
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        expected = sorted(_describe(t) for t in getattr(exc, "expected", []) if t != "$END")
        hint = f", expecting {' or '.join(expected[:4])}" if expected and len(expected) <= 4 else ""
        last = query.rstrip()
        pos_line = last.count("\n") + 1
        pos_col = len(last) - (last.rfind("\n") + 1) + 1
        return (
            f"parse error at line {pos_line}, col {pos_col}: "
            f"syntax error: unexpected end of input{hint}"
        )
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = sorted(_describe(t) for t in exc.accepts or exc.expected)
    hint = f", expecting {' or '.join(expected[:4])}" if 0 < len(expected) <= 4 else ""
    shown = (
        tok.type
        if tok.type in ("IDENTIFIER", "STRING", "NUMBER", "DURATION", "BYTES")
        else repr(str(tok))
    )
    return f"parse error at line {line}, col {col}: syntax error: unexpected {shown}{hint}"
