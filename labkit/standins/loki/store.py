"""On-disk log storage: an append-only file of pushed entries, replayed at start-up into
per-stream chunks (``chunks.Chunk``: sorted timestamps, lines in one bytes block).

Each stream keeps sealed chunks, sorted and not overlapping in time, and a head of recent
entries that is sealed into a chunk once it is big enough. A late entry older than the
sealed chunks is merged into the chunk whose time range it falls in, so a stream's chunks,
read in order, are always its entries in time order.

An entry identical to one already stored (same labels, timestamp and line) is dropped,
as Loki drops exact duplicates, so a shipper may resend a batch safely.

Acknowledged means stored: a push is validated (``pushcheck``), its new entries are
written to the entry log (``wal``, framed records; fsynced with ``fsync=True``) and only
then added to memory, so an entry that a client saw accepted is in the file, and an entry
whose write failed is neither in memory (a retry is not dropped as a duplicate) nor
acknowledged.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import orjson

from labkit.standins.loki import chunks
from labkit.standins.loki.chunks import Chunk, Side, merge
from labkit.standins.loki.jsoncols import prebuild
from labkit.standins.loki.labelsets import LabelsKey, labels_string
from labkit.standins.loki.pushcheck import PushLimits, rejection_message, split_valid
from labkit.standins.loki.syntax import Matcher
from labkit.standins.loki.wal import EntryLog, replay

__all__ = ["LabelsKey", "PartialPushError", "PushError", "Store", "StoreWriteError",
           "Stream", "labels_string"]

Piece = tuple[Chunk, int, int]  # a chunk and the index range [lo, hi) of a query's window
_MIN_TS = -(2**63)


class PushError(ValueError):
    """A push request is invalid as a whole (answered with 400, nothing stored)."""


class PartialPushError(PushError):
    """Some streams or entries were refused; the valid ones were stored (400, as Loki)."""

    def __init__(self, report: list[str], stored: int) -> None:
        super().__init__(rejection_message(report))
        self.report, self.stored = report, stored


class StoreWriteError(OSError):
    """The entries could not be written: nothing of the push was stored (answered 503)."""


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

    def plan(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """The entries of ``entries`` that are new (not stored, not repeated in the batch),
        without changing anything: what ``append(..., dedup=False)`` will then add."""
        if not entries or self._in_order(entries):
            return entries
        out: list[tuple[int, str]] = []
        seen: set[tuple[int, str]] = set()
        stored: list[Chunk] | None = None
        for ts, line in entries:
            if (ts, line) in seen:
                continue
            if ts == self.max_ts and line in self._at_max:
                continue
            if ts < self.max_ts:
                if stored is None:
                    stored = self.view()
                if any(line in c.lines_at(ts) for c in stored if c.min_ts <= ts <= c.max_ts):
                    continue
            seen.add((ts, line))
            out.append((ts, line))
        return out

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

    def __init__(self, data_dir: str | os.PathLike[str], *, fsync: bool = False,
                 limits: PushLimits | None = None) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "entries.log"
        self.streams: dict[LabelsKey, Stream] = {}
        self.lock = threading.RLock()
        self.limits = limits or PushLimits()
        for rec in replay(self.path):
            try:
                key = tuple((k, v) for k, v in rec["s"])  # type: ignore[attr-defined]
                entries = [(int(t), line) for t, line in rec["v"]]  # type: ignore[attr-defined]
            except (KeyError, TypeError, ValueError):
                continue  # a record of another shape: not ours to guess at
            self._stream(key).append(entries, dedup=False)
        self._log = EntryLog(self.path, fsync=fsync)

    def _stream(self, key: LabelsKey) -> Stream:
        s = self.streams.get(key)
        if s is None:
            s = self.streams[key] = Stream(key)
        return s

    def push(self, streams: Iterable[tuple[dict[str, str], list[tuple[int, str]]]]) -> int:
        """Store the valid entries of ``streams``; return how many were new.

        Raises PartialPushError (after storing the valid ones) when some streams or entries
        were refused, and StoreWriteError (storing nothing) when the log cannot be written.
        """
        valid, rejected = split_valid(list(streams), self.limits)
        total = 0
        with self.lock:
            planned = []
            for key, entries in valid:
                stream = self.streams.get(key)
                new = stream.plan(entries) if stream is not None else _unique(entries)
                if new:
                    planned.append((key, new))
            if planned:
                try:
                    self._log.append([orjson.dumps({"s": key, "v": new}) for key, new in planned])
                except OSError as exc:
                    raise StoreWriteError(
                        exc.errno, f"could not store the entries, nothing was stored: {exc}"
                    ) from exc
                for key, new in planned:
                    self._stream(key).append(new, dedup=False)
                    total += len(new)
        if rejected:
            raise PartialPushError(rejected, total)
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
            self._log.close()


def _unique(entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """A new stream's entries without exact repeats (kept in their order)."""
    if len(entries) < 2:
        return entries
    seen: set[tuple[int, str]] = set()
    out = []
    for e in entries:
        if e not in seen:
            seen.add(e)
            out.append(e)
    return out
