"""Trace analysis on a span DataFrame (see :func:`labkit.query.jaeger.traces_to_frame`):
the trace tree and its critical path (:func:`labkit.plots.plot_waterfall` draws one)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["PathSpan", "SpanNode", "critical_path", "trace_tree"]


@dataclass
class SpanNode:
    """A span in a trace tree, with its children sorted by start time."""

    span_id: str
    operation: str
    service: str
    start: pd.Timestamp
    duration_ms: float
    status: str
    depth: int = 0
    children: list[SpanNode] = field(default_factory=list)

    @property
    def end(self) -> pd.Timestamp:
        return self.start + pd.Timedelta(milliseconds=self.duration_ms)

    def walk(self) -> list[SpanNode]:
        """This span and its descendants, depth first, in start order."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def _one_trace(frame: pd.DataFrame, trace_id: str | None) -> pd.DataFrame:
    ids = frame["trace_id"].unique()
    if trace_id is None:
        if len(ids) != 1:
            raise ValueError(
                f"the frame holds {len(ids)} traces; pass trace_id= (one of {list(ids)[:3]}...)"
            )
        return frame
    spans = frame[frame["trace_id"] == trace_id]
    if spans.empty:
        raise ValueError(f"trace {trace_id!r} is not in the frame; it holds {list(ids)[:3]}...")
    return spans


def trace_tree(frame: pd.DataFrame, trace_id: str | None = None) -> list[SpanNode]:
    """The root spans of one trace, holding their children (an orphan span is a root)."""
    spans = _one_trace(frame, trace_id).sort_values(["start", "span_id"])
    nodes = {
        r.span_id: SpanNode(r.span_id, r.operation, r.service, r.start, r.duration_ms, r.status)
        for r in spans.itertuples()
    }
    roots: list[SpanNode] = []
    for r in spans.itertuples():
        parent = nodes.get(r.parent_id) if r.parent_id else None
        (parent.children if parent is not None else roots).append(nodes[r.span_id])

    def set_depth(node: SpanNode, depth: int) -> None:
        node.depth = depth
        for child in node.children:
            set_depth(child, depth + 1)

    for root in roots:
        set_depth(root, 0)
    return roots


@dataclass(frozen=True)
class PathSpan:
    """A span on the critical path and the time it spends there (its self time on the path)."""

    span_id: str
    operation: str
    service: str
    self_ms: float


def critical_path(frame: pd.DataFrame, trace_id: str | None = None) -> list[PathSpan]:
    """The spans on a trace's critical path, in time order, with the time each contributes.

    The standard algorithm (as the Jaeger UI computes it): children are first clipped to
    their parent's interval; from the root, step into the child that finishes last; from
    a span with no such child, return to the parent at the span's start and step into
    the latest child finishing by then. Time not covered by a chosen child is the
    span's self time. The self times add up to the root's duration.
    """
    spans = _one_trace(frame, trace_id)
    t0 = spans["start"].min()
    us = {
        r.span_id: [int((r.start - t0) / pd.Timedelta(microseconds=1)), 0, r.parent_id, r]
        for r in spans.itertuples()
    }
    for entry in us.values():
        entry[1] = entry[0] + round(entry[3].duration_ms * 1000)
    children: dict[str, list[str]] = {}
    roots = []
    for span_id, (_, _, parent, _) in us.items():
        if parent in us:
            children.setdefault(parent, []).append(span_id)
        else:
            roots.append(span_id)
    root = max(roots, key=lambda s: (us[s][1] - us[s][0], -us[s][0]))

    # Clip children into their parent's interval; drop those wholly outside it.
    stack, kids = [root], {}
    while stack:
        span = stack.pop()
        start, end = us[span][0], us[span][1]
        inside = []
        for child in children.get(span, []):
            us[child][0], us[child][1] = max(us[child][0], start), min(us[child][1], end)
            if us[child][0] < us[child][1]:  # zero-width spans add no time to any path
                inside.append(child)
                stack.append(child)
        kids[span] = sorted(inside, key=lambda c: (-us[c][1], c))  # latest end first

    self_us: dict[str, int] = {}
    first_at: dict[str, int] = {}
    visited: set[str] = set()
    span = root
    returning: int | None = None
    while True:
        visited.add(span)
        bound = us[span][1] if returning is None else returning
        nxt = next((c for c in kids[span] if c not in visited and us[c][1] <= bound), None)
        section_start = us[nxt][1] if nxt is not None else us[span][0]
        if bound > section_start:
            self_us[span] = self_us.get(span, 0) + bound - section_start
            first_at[span] = min(first_at.get(span, section_start), section_start)
        if nxt is not None:
            span, returning = nxt, None
        elif span == root:
            break
        else:
            span, returning = str(us[span][2]), us[span][0]
    ordered = sorted(self_us, key=lambda s: (first_at[s], us[s][0]))
    return [PathSpan(s, us[s][3].operation, us[s][3].service, self_us[s] / 1000.0) for s in ordered]
