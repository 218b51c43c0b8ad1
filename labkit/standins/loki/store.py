"""On-disk log storage: an append-only file of pushed entries, replayed into per-stream
columns (a sorted int64 numpy array of timestamps and a list of lines) at start-up.

An entry identical to one already stored (same labels, timestamp and line) is dropped,
as Loki drops exact duplicates, so a shipper may resend a batch safely.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import orjson

from labkit.standins.loki.syntax import Matcher

LabelsKey = tuple[tuple[str, str], ...]
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class PushError(ValueError):
    """A pushed stream or entry is invalid (answered with 400)."""


def labels_string(labels: dict[str, str] | LabelsKey) -> str:
    """Prometheus text form: {a="b", c="d"} (sorted by name)."""
    items = sorted(labels.items()) if isinstance(labels, dict) else labels
    return "{" + ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in items) + "}"


class Stream:
    """One label set's entries, sorted by timestamp on demand."""

    def __init__(self, key: LabelsKey) -> None:
        self.key = key
        self.labels = dict(key)
        self.base = frozenset(self.labels)
        self.ts = np.empty(0, dtype=np.int64)
        self.lines: list[str] = []
        self._pend_ts: list[int] = []
        self._pend_lines: list[str] = []
        self.max_ts = -(2**63)
        self._at_max: set[str] = set()  # lines stored at max_ts, for the in-order duplicate check
        self.count = 0

    def _consolidate(self) -> None:
        if not self._pend_ts:
            return
        ts = np.concatenate([self.ts, np.asarray(self._pend_ts, dtype=np.int64)])
        lines = self.lines
        lines.extend(self._pend_lines)
        self._pend_ts, self._pend_lines = [], []
        if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
            order = np.argsort(ts, kind="stable")
            ts = ts[order]
            self.lines = [lines[i] for i in order.tolist()]
        self.ts = ts

    def snapshot(self) -> tuple[np.ndarray, list[str]]:
        """Sorted timestamps and the matching lines (do not mutate)."""
        self._consolidate()
        return self.ts, self.lines

    def append(self, entries: Iterable[tuple[int, str]], dedup: bool = True) -> list[tuple[int, str]]:
        """Store ``entries``; return those that were new (duplicates are dropped)."""
        accepted: list[tuple[int, str]] = []
        late: list[tuple[int, str]] = []
        for ts, line in entries:
            if ts > self.max_ts:
                self.max_ts, self._at_max = ts, {line}
            elif ts == self.max_ts:
                if dedup and line in self._at_max:
                    continue
                self._at_max.add(line)
            else:
                late.append((ts, line))
                continue
            self._pend_ts.append(ts)
            self._pend_lines.append(line)
            accepted.append((ts, line))
        if late:
            accepted.extend(self._append_late(late, dedup))
        self.count += len(accepted)
        return accepted

    def _append_late(self, late: list[tuple[int, str]], dedup: bool) -> list[tuple[int, str]]:
        # Out-of-order entries: compare against what is stored with the same timestamp.
        self._consolidate()
        seen: set[tuple[int, str]] = set()
        out = []
        for ts, line in late:
            if dedup:
                lo = int(np.searchsorted(self.ts, ts, "left"))
                hi = int(np.searchsorted(self.ts, ts, "right"))
                if (ts, line) in seen or line in self.lines[lo:hi]:
                    continue
                seen.add((ts, line))
            self._pend_ts.append(ts)
            self._pend_lines.append(line)
            out.append((ts, line))
        return out

    def has_entries(self, start_ns: int, end_ns: int) -> bool:
        ts, _ = self.snapshot()
        lo = int(np.searchsorted(ts, start_ns, "left"))
        return lo < len(ts) and int(ts[lo]) <= end_ns


class Store:
    """Every stream, persisted to ``data_dir/entries.log``; thread-safe."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "entries.log"
        self.streams: dict[LabelsKey, Stream] = {}
        self.lock = threading.RLock()
        self._replay()
        self._file = open(self.path, "ab")  # noqa: SIM115 - held for the store's lifetime

    def _replay(self) -> None:
        if not self.path.exists():
            return
        good = 0
        with open(self.path, "rb") as f:
            for raw in f:
                try:
                    rec = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    break  # a record cut short by a crash: drop it and everything after
                key = tuple(tuple(p) for p in rec["s"])
                self._stream(key).append(((int(t), line) for t, line in rec["v"]), dedup=False)
                good += len(raw)
        if good != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good)

    def _stream(self, key: LabelsKey) -> Stream:
        s = self.streams.get(key)
        if s is None:
            s = self.streams[key] = Stream(key)
        return s

    def push(self, streams: Iterable[tuple[dict[str, str], list[tuple[int, str]]]]) -> int:
        """Validate and store pushed streams; return how many entries were new."""
        batch = []
        for labels, entries in streams:
            if not labels:
                raise PushError("error at least one label pair is required per stream")
            for name in labels:
                if not _LABEL_NAME.match(name):
                    raise PushError(f'error parsing labels: invalid label name "{name}"')
            batch.append((tuple(sorted((k, v) for k, v in labels.items() if v != "")), entries))
        total = 0
        with self.lock:
            records = []
            for key, entries in batch:
                accepted = self._stream(key).append(entries)
                if accepted:
                    records.append(orjson.dumps({"s": key, "v": accepted}) + b"\n")
                    total += len(accepted)
            if records:
                self._file.write(b"".join(records))
                self._file.flush()
        return total

    def select(self, matchers: tuple[Matcher, ...]) -> list[Stream]:
        """Streams whose labels satisfy every matcher (absent labels read as "")."""
        with self.lock:
            return [s for s in self.streams.values() if all(m.matches(s.labels.get(m.name, "")) for m in matchers)]

    def window(self, stream: Stream, start_ns: int, end_ns: int, *, start_open: bool) -> tuple[np.ndarray, list[str]]:
        """Entries of ``stream`` in [start, end) or, with start_open, (start, end]."""
        with self.lock:
            ts, lines = stream.snapshot()
            side = "right" if start_open else "left"
            lo = int(np.searchsorted(ts, start_ns, side))
            hi = int(np.searchsorted(ts, end_ns, side))
            return ts[lo:hi], lines[lo:hi]

    def all_streams(self) -> Iterator[Stream]:
        with self.lock:
            yield from list(self.streams.values())

    def close(self) -> None:
        with self.lock:
            if not self._file.closed:
                self._file.close()
