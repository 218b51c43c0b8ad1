"""On-disk log storage: an append-only file of pushed entries, replayed at start-up into
per-stream chunks (``chunks.Chunk``: sorted timestamps, lines in one bytes block).

Each stream keeps sealed chunks, sorted and not overlapping in time, and a head of recent
entries that is sealed into a chunk once it is big enough. A late entry older than the
sealed chunks is merged into the chunk whose time range it falls in, so a stream's chunks,
read in order, are always its entries in time order.

An entry identical to one already stored (same labels, timestamp and line) is dropped,
as Loki drops exact duplicates, so a shipper may resend a batch safely.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import orjson

from labkit.standins.loki import chunks
from labkit.standins.loki.chunks import Chunk, Side, merge
from labkit.standins.loki.jsoncols import prebuild
from labkit.standins.loki.syntax import Matcher

LabelsKey = tuple[tuple[str, str], ...]
Piece = tuple[Chunk, int, int]  # a chunk and the index range [lo, hi) of a query's window
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MIN_TS = -(2**63)


class PushError(ValueError):
    """A pushed stream or entry is invalid (answered with 400)."""


def labels_string(labels: dict[str, str] | LabelsKey) -> str:
    """Prometheus text form: {a="b", c="d"} (sorted by name)."""
    items = sorted(labels.items()) if isinstance(labels, dict) else labels
    return "{" + ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in items) + "}"


class Stream:
    """One label set's entries: sealed chunks plus a head of recent ones."""

    def __init__(self, key: LabelsKey) -> None:
        self.key = key
        self.labels = dict(key)
        self.base = frozenset(self.labels)
        self.chunks: list[Chunk] = []
        self._head_ts: list[int] = []  # in arrival order, every one >= the sealed chunks' last
        self._head_lines: list[str] = []
        self._head_chars = 0
        self._head_view: Chunk | None = None  # the head as a chunk, until the head changes
        self.max_ts = _MIN_TS
        self._at_max: set[str] = set()  # lines stored at max_ts, for the in-order duplicate check
        self.count = 0

    def view(self) -> list[Chunk]:
        """Every entry, as chunks in time order (do not mutate)."""
        if not self._head_ts:
            return self.chunks
        if self._head_view is None:
            ts = np.asarray(self._head_ts, dtype=np.int64)
            order = np.argsort(ts, kind="stable")  # equal times keep their arrival order
            self._head_view = Chunk(ts[order], [self._head_lines[i] for i in order.tolist()])
        return [*self.chunks, self._head_view]

    def _sealed_max(self) -> int:
        return self.chunks[-1].max_ts if self.chunks else _MIN_TS

    def _add_head(self, ts: int, line: str) -> None:
        self._head_ts.append(ts)
        self._head_lines.append(line)
        self._head_chars += len(line)
        self._head_view = None

    def _maybe_seal(self) -> None:
        if len(self._head_ts) >= chunks.CHUNK_LINES or self._head_chars >= chunks.CHUNK_BYTES:
            self.chunks = self.view()[:]  # the head view becomes the newest sealed chunk
            self._head_ts, self._head_lines, self._head_chars, self._head_view = [], [], 0, None
            prebuild(self.chunks[-1], self.labels, self.base)
            self.chunks[-1].pack()

    def append(
        self, entries: Iterable[tuple[int, str]], dedup: bool = True
    ) -> list[tuple[int, str]]:
        """Store ``entries``; return those that were new (duplicates are dropped)."""
        entries = entries if isinstance(entries, list) else list(entries)
        if entries and self._in_order(entries):
            return self._append_in_order(entries)
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
            self._add_head(ts, line)
            accepted.append((ts, line))
            if len(self._head_ts) >= chunks.CHUNK_LINES:
                self._maybe_seal()
        if late:
            accepted.extend(self._append_late(late, dedup))
        self._maybe_seal()
        self.count += len(accepted)
        return accepted

    def _in_order(self, entries: list[tuple[int, str]]) -> bool:
        # Newer than everything stored, each newer than the one before: nothing to compare.
        ts = np.fromiter((t for t, _ in entries), dtype=np.int64, count=len(entries))
        return int(ts[0]) > self.max_ts and bool((ts[1:] > ts[:-1]).all())

    def _append_in_order(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """The common case (a shipper's batch, a replayed record) without a check per entry."""
        for i in range(0, len(entries), chunks.CHUNK_LINES):
            part = entries[i : i + chunks.CHUNK_LINES]
            self._head_ts.extend(t for t, _ in part)
            lines = [line for _, line in part]
            self._head_lines.extend(lines)
            self._head_chars += sum(map(len, lines))
            self._head_view = None
            self._maybe_seal()
        self.max_ts, self._at_max = entries[-1][0], {entries[-1][1]}
        self.count += len(entries)
        return entries

    def _append_late(self, late: list[tuple[int, str]], dedup: bool) -> list[tuple[int, str]]:
        # Out-of-order entries: compare against what is stored with the same timestamp.
        stored = self.view()
        seen: set[tuple[int, str]] = set()
        out: list[tuple[int, str]] = []
        into_sealed: dict[int, list[tuple[int, str]]] = {}
        sealed_max = self._sealed_max()
        mins = [c.min_ts for c in self.chunks]
        for ts, line in late:
            if dedup:
                if (ts, line) in seen or any(
                    line in c.lines_at(ts) for c in stored if c.min_ts <= ts <= c.max_ts
                ):
                    continue
                seen.add((ts, line))
            if ts >= sealed_max:
                self._add_head(ts, line)
            else:
                k = max(bisect.bisect_right(mins, ts) - 1, 0)
                into_sealed.setdefault(k, []).append((ts, line))
            out.append((ts, line))
        if into_sealed:
            sealed = list(self.chunks)
            for k, extra in into_sealed.items():
                sealed[k] = merge(sealed[k], extra)
                prebuild(sealed[k], self.labels, self.base)
                sealed[k].pack()
            self.chunks = sealed
        return out

    def has_entries(self, start_ns: int, end_ns: int) -> bool:
        for c in self.view():
            lo = int(np.searchsorted(c.ts, start_ns, "left"))
            if lo < len(c) and int(c.ts[lo]) <= end_ns:
                return True
        return False


class Store:
    """Every stream, persisted to ``data_dir/entries.log``; thread-safe."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "entries.log"
        self.streams: dict[LabelsKey, Stream] = {}
        self.lock = threading.RLock()
        self._replay()
        self._file = open(self.path, "ab")

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
            for ts, _ in entries:  # numpy holds times as int64: refuse others before storing
                if not _MIN_TS <= ts < -_MIN_TS:
                    raise PushError(f"error parsing push request: timestamp {ts} out of range")
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
            return [
                s
                for s in self.streams.values()
                if all(m.matches(s.labels.get(m.name, "")) for m in matchers)
            ]

    def pieces(
        self, stream: Stream, start_ns: int, end_ns: int, *, start_open: bool
    ) -> list[Piece]:
        """The chunks holding entries in [start, end) or, with start_open, (start, end], in
        time order, each with the index range of those entries."""
        with self.lock:
            chunks = stream.view()
        side: Side = "right" if start_open else "left"
        out = []
        for c in chunks:
            if c.max_ts < start_ns or c.min_ts > end_ns:
                continue
            lo, hi = c.span(start_ns, end_ns, side)
            if hi > lo:
                out.append((c, lo, hi))
        return out

    def active(self, start_ns: int, end_ns: int) -> list[Stream]:
        """Streams with an entry in [start, end]."""
        with self.lock:
            return [s for s in self.streams.values() if s.has_entries(start_ns, end_ns)]

    def all_streams(self) -> Iterator[Stream]:
        with self.lock:
            yield from list(self.streams.values())

    def close(self) -> None:
        with self.lock:
            if not self._file.closed:
                self._file.close()
