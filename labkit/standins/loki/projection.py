"""A faster pipeline for the common metric shape ``sum by (x) (rate({...} |= "..." | json [1m]))``.

When the series are grouped ``by`` a few labels and the pipeline is only line filters, one
``json`` parser without parameters, label filters and an unwrap, only the labels the query
reads matter. This pipeline looks those up in the parsed object instead of flattening every
field into a label set. It falls back to the full flattening for any line where a wanted
name is not a top-level scalar (nested objects, sanitised names), so answers are the same.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from labkit.standins.loki import syntax as S
from labkit.standins.loki.pipeline import (
    ERROR, ERROR_DETAILS, Pipeline, Result, _set_error, eval_label_filter, flatten_json, json_value,
)


def _filter_names(e: S.LabelFilterExpr, out: set[str]) -> None:
    if isinstance(e, (S.LabelAnd, S.LabelOr)):
        _filter_names(e.left, out)
        _filter_names(e.right, out)
    else:
        out.add(e.name)


def projected_pipeline(stages: tuple[S.Stage, ...], sample: str, grouping: S.Grouping | None) -> Pipeline | None:
    """A ProjectedJson pipeline when the query shape allows it, else None."""
    if grouping is None or grouping.without:
        return None
    kinds = [type(s) for s in stages]
    if kinds.count(S.JsonParser) != 1:
        return None
    j = kinds.index(S.JsonParser)
    json_stage = stages[j]
    assert isinstance(json_stage, S.JsonParser)
    if json_stage.params or any(k is not S.LineFilter for k in kinds[:j]):
        return None
    needed = set(grouping.labels)
    for st in stages[j + 1:]:
        if isinstance(st, S.LabelFilter):
            _filter_names(st.expr, needed)
        elif isinstance(st, S.Unwrap):
            needed.add(st.label)
        else:
            return None
    needed -= {ERROR, ERROR_DETAILS}
    return ProjectedJson(stages, sample, j, frozenset(needed))


class ProjectedJson(Pipeline):
    """Runs line filters, then reads only the ``needed`` labels out of each JSON line."""

    def __init__(self, stages: tuple[S.Stage, ...], sample: str, json_index: int, needed: frozenset[str]) -> None:
        super().__init__(stages, sample)
        self.filters = self.fns[:json_index]
        self.after = self.fns[json_index + 1:]
        self.needed = needed

    def run(self, ts: int, line: str, stream: Mapping[str, str], base: frozenset[str]) -> Result | None:
        for fn in self.filters:
            if fn(ts, line, {}, base) is None:
                return None
        lbs = {k: v for k, v in stream.items() if k in self.needed}
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            obj = None
            _set_error(lbs, "JSONParserErr", str(exc))
        if obj is not None and not isinstance(obj, dict):
            _set_error(lbs, "JSONParserErr", "Value looks like a JSON scalar, not an object")
        elif obj is not None:
            flat: dict[str, str] | None = None
            for name in self.needed:
                key = name[:-10] if name.endswith("_extracted") and name[:-10] in base else name
                if key in base and key == name:
                    continue  # a stream label; the JSON field of that name is `<name>_extracted`
                v = obj.get(key)
                if v is None or isinstance(v, (dict, list)):
                    if flat is None:
                        flat = flatten_json(obj)
                    if key in flat:
                        lbs[name] = flat[key]
                else:
                    lbs[name] = json_value(v)
        for fn in self.after:
            if fn(ts, line, lbs, base) is None:
                return None
        value = 1.0
        if self.unwrap is not None:
            value = self._unwrap(lbs)
            for lf in self.post:
                if not eval_label_filter(lf.expr, lbs):
                    return None
        elif self.sample == "bytes":
            value = float(len(line.encode()))
        return line, lbs, value
