"""Run a LogQL log pipeline (filters, parsers, formatters, unwrap) over log lines.

A compiled pipeline maps ``(ts_ns, line, stream_labels)`` to ``(line, labels, value)`` or
None when the line is filtered out. Labels that a parser fails on carry ``__error__``
(JSONParserErr, LogfmtParserErr, LabelFilterErr, SampleExtractionErr) and
``__error_details__``, as in Loki.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.labelfilters import (
    ERROR,
    ERROR_DETAILS,
    eval_label_filter,
    go_float,
    set_error,
)
from labkit.standins.loki.regex import Regex
from labkit.standins.loki.templates import Template, TemplateExecError
from labkit.standins.loki.units import go_duration_seconds, parse_bytes

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BAD_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_LOGFMT = re.compile(r'\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?(?=\s|$)')
_JSON_PATH = re.compile(r'\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')

StageFn = Callable[[int, str, dict[str, str], frozenset[str]], "str | None"]
Result = tuple[str, dict[str, str], float]


def sanitize(name: str, _cache: dict[str, str] = {}) -> str:  # noqa: B006 - a deliberate memo
    """A label name Prometheus accepts: other characters become _, a leading digit gets _."""
    out = _cache.get(name)
    if out is None:
        out = _BAD_NAME_CHAR.sub("_", name)
        if out[:1].isdigit():
            out = "_" + out
        _cache[name] = out
    return out


def json_value(v: Any) -> str:
    """A JSON scalar as Loki's json parser renders it into a label value."""
    if isinstance(v, str):
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return repr(v).removesuffix(".0") if "e" not in repr(v) else repr(v)
    return str(v)


def flatten_json(
    obj: Mapping[str, Any], prefix: str = "", out: dict[str, str] | None = None
) -> dict[str, str]:
    """Loki's json parser without parameters: nested keys joined with _, arrays skipped.
    (Depth-first with an explicit stack: JSON may nest deeper than Python recurses.)"""
    if out is None:
        out = {}
    stack = [(prefix, iter(obj.items()))]
    while stack:
        pre, items = stack[-1]
        for k, v in items:
            key = pre + sanitize(k)
            if isinstance(v, dict):
                stack.append((key + "_", iter(v.items())))
                break
            if not isinstance(v, list):
                out[key] = json_value(v)
        else:
            stack.pop()
    return out


def _set_extracted(lbs: dict[str, str], base: frozenset[str], name: str, value: str) -> None:
    # An extracted label that clashes with a stream label gets the _extracted suffix.
    if name in base:
        name += "_extracted"
    lbs[name] = value


def _line_filter(st: syn.LineFilter) -> StageFn:
    tests, keep = st.tests, st.keep
    if st.plain:
        vals = st.values
        if keep:
            return lambda ts, line, lbs, base: line if any(v in line for v in vals) else None
        return lambda ts, line, lbs, base: None if any(v in line for v in vals) else line
    if keep:
        return lambda ts, line, lbs, base: line if any(t(line) for t in tests) else None
    return lambda ts, line, lbs, base: None if any(t(line) for t in tests) else line


def _json_path(obj: Any, path: str) -> str:
    cur = obj
    for m in _JSON_PATH.finditer(path):
        key = m.group(1) if m.group(1) is not None else m.group(3)
        if key is not None:
            if not isinstance(cur, dict) or key not in cur:
                return ""
            cur = cur[key]
        else:
            idx = int(m.group(2))
            if not isinstance(cur, list) or idx >= len(cur):
                return ""
            cur = cur[idx]
    if isinstance(cur, (dict, list)):
        return orjson.dumps(cur).decode()
    return json_value(cur)


def _json(st: syn.JsonParser) -> StageFn:
    params = st.params

    def run(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            set_error(lbs, "JSONParserErr", str(exc))
            return line
        if not isinstance(obj, dict):
            set_error(lbs, "JSONParserErr", "Value looks like a JSON scalar, not an object")
            return line
        if params:
            for name, path in params:
                _set_extracted(lbs, base, name, _json_path(obj, path))
        else:
            for k, v in flatten_json(obj).items():
                _set_extracted(lbs, base, k, v)
        return line

    return run


def parse_logfmt(line: str) -> dict[str, str]:
    """go-logfmt's reading of ``line``; raise ValueError on malformed input."""
    out: dict[str, str] = {}
    pos = 0
    n = len(line)
    while pos < n:
        m = _LOGFMT.match(line, pos)
        if not m or m.end() == pos:
            if line[pos:].strip() == "":
                break
            raise ValueError(f"logfmt syntax error at pos {pos + 1}: unexpected '\"'")
        key, raw = m.group(1), m.group(2)
        if raw is None or raw == "":
            value = ""
        elif raw.startswith('"'):
            value = orjson.loads(raw) if "\\" in raw else raw[1:-1]
        else:
            value = raw
        out[key] = value
        pos = m.end()
    return out


def _logfmt(st: syn.LogfmtParser) -> StageFn:
    def run(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str:
        try:
            pairs = parse_logfmt(line)
        except (ValueError, orjson.JSONDecodeError) as exc:
            set_error(lbs, "LogfmtParserErr", str(exc))
            return line
        for k, v in pairs.items():
            if v != "":
                _set_extracted(lbs, base, sanitize(k), v)
        return line

    return run


def _regex_parser(rx: Regex) -> StageFn:
    def run(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str:
        m = rx.search(line)
        if m:
            for k, v in m.groupdict().items():
                if v is not None:
                    _set_extracted(lbs, base, sanitize(k), v)
        return line

    return run


def _pattern_parser(st: syn.PatternParser) -> StageFn:
    names, extract = st.names, st.extract

    def run(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str:
        values = extract(line)
        if values:
            for k, v in zip(names, values, strict=False):
                _set_extracted(lbs, base, sanitize(k), v)
        return line

    return run


def _line_format(tmpl: Template) -> StageFn:
    def run(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str:
        try:
            return tmpl.render(lbs, line, ts)
        except TemplateExecError as exc:
            set_error(lbs, "TemplateFormatErr", str(exc))
            return line

    return run


def _label_filter(expr: syn.LabelFilterExpr) -> StageFn:
    def run(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str | None:
        return line if eval_label_filter(expr, lbs) else None

    return run


def _label_format(st: syn.LabelFormat) -> StageFn:
    def run(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str:
        snapshot: dict[str, str] | None = None  # taken at the first template, as Loki does
        for item in st.items:
            if item[1] == "rename":
                dst, _, src = item
                if src in lbs:
                    lbs[dst] = lbs.pop(src)
                continue
            dst, _, tmpl = item
            if snapshot is None:
                snapshot = dict(lbs)
            try:
                lbs[dst] = tmpl.render(snapshot, line, ts)
            except TemplateExecError as exc:
                set_error(lbs, "TemplateFormatErr", str(exc))
        return line

    return run


def _drop_keep(st: syn.DropKeep) -> StageFn:
    def drop(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str:
        for name, m in st.items:
            if name in lbs and (m is None or m.matches(lbs[name])):
                del lbs[name]
                if name == ERROR:
                    lbs.pop(ERROR_DETAILS, None)
        return line

    def keep(ts: int, line: str, lbs: dict[str, str], base: frozenset[str]) -> str:
        wanted = {
            name for name, m in st.items if name in lbs and (m is None or m.matches(lbs[name]))
        }
        for name in list(lbs):
            if name not in wanted and name not in (ERROR, ERROR_DETAILS):
                del lbs[name]
        return line

    return keep if st.keep else drop


def group_key(labels: dict[str, str], grouping: syn.Grouping | None) -> tuple[tuple[str, str], ...]:
    """The series a sample with ``labels`` belongs to under ``grouping`` (None: all labels)."""
    if grouping is None:
        return tuple(sorted((k, v) for k, v in labels.items() if v != "" and k != ERROR_DETAILS))
    if grouping.without:
        drop = set(grouping.labels) | {ERROR_DETAILS}
        return tuple(sorted((k, v) for k, v in labels.items() if v != "" and k not in drop))
    keep = set(grouping.labels) | {ERROR}
    return tuple(sorted((k, v) for k, v in labels.items() if v != "" and k in keep))


def compile_stages(
    stages: tuple[syn.Stage, ...],
) -> tuple[list[StageFn], syn.Unwrap | None, list[syn.LabelFilter]]:
    """Stage functions before unwrap, the unwrap, and the label filters after it."""
    fns: list[StageFn] = []
    unwrap: syn.Unwrap | None = None
    post: list[syn.LabelFilter] = []
    for st in stages:
        if unwrap is not None:
            assert isinstance(st, syn.LabelFilter)
            post.append(st)
        elif isinstance(st, syn.LineFilter):
            fns.append(_line_filter(st))
        elif isinstance(st, syn.JsonParser):
            fns.append(_json(st))
        elif isinstance(st, syn.LogfmtParser):
            fns.append(_logfmt(st))
        elif isinstance(st, syn.RegexpParser):
            fns.append(_regex_parser(st.regex))
        elif isinstance(st, syn.PatternParser):
            fns.append(_pattern_parser(st))
        elif isinstance(st, syn.LineFormat):
            fns.append(_line_format(st.template))
        elif isinstance(st, syn.LabelFormat):
            fns.append(_label_format(st))
        elif isinstance(st, syn.DropKeep):
            fns.append(_drop_keep(st))
        elif isinstance(st, syn.Decolorize):
            fns.append(lambda ts, line, lbs, base: _ANSI.sub("", line))
        elif isinstance(st, syn.LabelFilter):
            fns.append(_label_filter(st.expr))
        elif isinstance(st, syn.Unwrap):
            unwrap = st
    return fns, unwrap, post


class Pipeline:
    """A compiled pipeline; ``run`` gives (line, labels, value) or None when filtered out."""

    def __init__(self, stages: tuple[syn.Stage, ...], sample: str = "count") -> None:
        self.fns, self.unwrap, self.post = compile_stages(stages)
        self.sample = sample  # count | bytes | unwrap

    def run(
        self, ts: int, line: str, stream: Mapping[str, str], base: frozenset[str]
    ) -> Result | None:
        lbs = dict(stream)
        out = line
        for fn in self.fns:
            next_out = fn(ts, out, lbs, base)
            if next_out is None:
                return None
            out = next_out
        value = 1.0
        if self.unwrap is not None:
            value = self._unwrap(lbs)
            for lf in self.post:
                if not eval_label_filter(lf.expr, lbs):
                    return None
        elif self.sample == "bytes":
            value = float(len(out.encode()))
        return out, lbs, value

    def _unwrap(self, lbs: dict[str, str]) -> float:
        assert self.unwrap is not None
        raw = lbs.pop(self.unwrap.label, None)  # the unwrapped label leaves the series labels
        if ERROR in lbs:
            return 0.0
        value = self.convert(raw)
        if value is None:
            set_error(
                lbs, "SampleExtractionErr", f"cannot unwrap {self.unwrap.label}={raw!r} as a number"
            )
            return 0.0
        return value

    def convert(self, raw: str | None) -> float | None:
        """The unwrapped label's value as a sample, or None when it cannot be read."""
        assert self.unwrap is not None
        conv = self.unwrap.conversion
        if raw is None:
            return None
        if conv in ("duration", "duration_seconds"):
            return go_duration_seconds(raw)
        if conv == "bytes":
            return parse_bytes(raw)
        return go_float(raw)
