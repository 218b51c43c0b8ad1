"""The LogQL syntax tree that the parser builds and the evaluator walks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from labkit.standins.loki.regex import Regex
from labkit.standins.loki.templates import Template


@dataclass(frozen=True)
class Matcher:
    """``name op "value"`` in a stream selector, a ``drop``/``keep`` item or a label filter."""

    name: str
    op: str  # one of = != =~ !~
    value: str
    regex: Regex | None = field(default=None, compare=False)

    def matches(self, actual: str) -> bool:
        """True when the label value ``actual`` ("" when absent) satisfies the matcher."""
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class LineFilter:
    """``|= != |~ !~ |> !>`` with ``or`` alternatives; a line passes a ``|`` filter when one
    alternative's test holds, a ``!`` filter when none does."""

    op: str  # |= != |~ !~ |> !>
    values: tuple[str, ...]  # the alternatives as written (an ip() one as ip("..."))
    tests: tuple[Callable[[str], bool], ...] = field(default=(), compare=False)
    plain: bool = True  # every alternative is a substring: the block search applies

    @property
    def keep(self) -> bool:
        """True for |= |~ |> (keep matching lines), False for != !~ !>."""
        return self.op.startswith("|")


@dataclass(frozen=True)
class JsonParser:
    params: tuple[tuple[str, str], ...] = ()  # (label, path expression); empty: every field


@dataclass(frozen=True)
class LogfmtParser:
    pass


@dataclass(frozen=True)
class RegexpParser:
    regex: Regex


@dataclass(frozen=True)
class PatternParser:
    source: str
    extract: Callable[[str], list[str] | None] = field(compare=False)  # captures, in order
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineFormat:
    template: Template


# (dst, "rename", src label name) or (dst, "template", Template)
LabelFormatItem = tuple[str, Literal["rename"], str] | tuple[str, Literal["template"], Template]


@dataclass(frozen=True)
class LabelFormat:
    items: tuple[LabelFormatItem, ...]


@dataclass(frozen=True)
class DropKeep:
    keep: bool
    items: tuple[tuple[str, Matcher | None], ...]


@dataclass(frozen=True)
class Decolorize:
    pass


@dataclass(frozen=True)
class LabelCompare:
    """One label filter comparison; ``kind`` is string, number, duration, bytes or ip."""

    name: str
    op: str
    kind: str
    value: object  # str for strings and ip patterns, float (seconds / bytes / number) otherwise
    matcher: Matcher | None = None
    test: Callable[[str], bool] | None = field(default=None, compare=False)  # kind "ip"


@dataclass(frozen=True)
class LabelAnd:
    left: LabelFilterExpr
    right: LabelFilterExpr


@dataclass(frozen=True)
class LabelOr:
    left: LabelFilterExpr
    right: LabelFilterExpr


LabelFilterExpr = LabelCompare | LabelAnd | LabelOr


@dataclass(frozen=True)
class LabelFilter:
    expr: LabelFilterExpr


@dataclass(frozen=True)
class Unwrap:
    label: str
    conversion: str  # "" | duration | duration_seconds | bytes


Stage = (
    LineFilter | JsonParser | LogfmtParser | RegexpParser | PatternParser | LineFormat
    | LabelFormat | DropKeep | Decolorize | LabelFilter | Unwrap
)


@dataclass(frozen=True)
class LogQuery:
    selector: tuple[Matcher, ...]
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class Grouping:
    without: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class RangeAgg:
    fn: str
    query: LogQuery  # stages include the Unwrap, when there is one
    range_ns: int
    offset_ns: int = 0
    param: float | None = None  # the quantile
    grouping: Grouping | None = None

    @property
    def unwrap(self) -> Unwrap | None:
        return next((s for s in self.query.stages if isinstance(s, Unwrap)), None)


@dataclass(frozen=True)
class VectorAgg:
    op: str
    expr: Expr
    grouping: Grouping | None = None
    param: float | None = None  # k of topk/bottomk


@dataclass(frozen=True)
class Matching:
    on: bool
    labels: tuple[str, ...]
    card: str = "one-to-one"  # or many-to-one (group_left), one-to-many (group_right)
    include: tuple[str, ...] = ()  # labels group_left/group_right copy from the "one" side


@dataclass(frozen=True)
class BinOp:
    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: Matching | None = None


@dataclass(frozen=True)
class LabelReplace:
    """``label_replace(expr, "dst", "replacement", "src", "regex")``."""

    expr: Expr
    dst: str
    replacement: str
    src: str
    pattern: str
    regex: Regex = field(compare=False)


@dataclass(frozen=True)
class NumberLit:
    value: float


@dataclass(frozen=True)
class VectorLit:
    value: float


Expr = RangeAgg | VectorAgg | BinOp | LabelReplace | NumberLit | VectorLit
Query = LogQuery | RangeAgg | VectorAgg | BinOp | LabelReplace | NumberLit | VectorLit
