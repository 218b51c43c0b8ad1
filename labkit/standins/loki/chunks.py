"""Sealed chunks: a run of one stream's entries, sorted by time, held compactly.

A chunk keeps its lines as one UTF-8 ``bytes`` block with an offsets array instead of a
list of ``str`` objects: a Python ``str`` costs about 50 bytes of header per line, and a
million log lines as ``str`` objects made up most of the server's memory. A sealed chunk
also compresses its block with LZ4 (as Loki compresses chunks): log lines shrink 5-10x,
and unpacking runs at gigabytes per second, far faster than anything a query then does
with the lines. Lines are decoded only while a query reads them. A chunk never changes
once built, so it can also carry a cache of per-line values derived from its lines
(``columns``, see ``jsoncols``).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal

import cramjam
import numpy as np

CHUNK_LINES = 16384  # a head holding this many entries is sealed into a chunk
CHUNK_BYTES = 4 << 20  # ...or this many bytes of lines, whichever comes first
# Lines were str objects before, so lone surrogates could be stored; keep them round-tripping.
_ERRORS = "surrogatepass"
Side = Literal["left", "right"]
_last_unpacked: tuple[Chunk | None, bytes] = (None, b"")


class Chunk:
    """Sorted timestamps and their lines; immutable once built.

    Lines sit in ``blob`` one after another; when none contains a newline (JSON logs never
    do) each is followed by ``\\n``, so the whole block splits into lines in one C call.
    """

    __slots__ = ("_blob", "_packed", "ascii", "columns", "offsets", "sep", "ts")

    def __init__(self, ts: np.ndarray, lines: list[str]) -> None:
        encoded = [line.encode("utf-8", _ERRORS) for line in lines]
        self.ts = ts
        self.sep = 0 if any(b"\n" in e for e in encoded) else 1
        if self.sep:
            encoded.append(b"")
        self._blob: bytes | None = (b"\n" if self.sep else b"").join(encoded)
        self._packed: bytes | None = None
        if self.sep:
            encoded.pop()
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)) + self.sep
        np.cumsum(sizes, out=offsets[1:])
        self.offsets = offsets  # line i is blob[offsets[i]:offsets[i + 1] - sep]
        self.ascii = self._blob.isascii()  # then byte offsets are also character offsets
        self.columns: dict[str, Any] = {}  # label name -> jsoncols.Column, filled by queries

    def pack(self) -> None:
        """Compress the block (once the chunk is sealed; reads unpack it on demand)."""
        if self._blob is not None:
            self._packed = bytes(cramjam.lz4.compress_block(self._blob))
            self._blob = None

    @property
    def blob(self) -> bytes:
        """The lines' block, unpacked; the last one unpacked is kept, as a query reads a
        chunk several times in a row."""
        if self._blob is not None:
            return self._blob
        global _last_unpacked
        last = _last_unpacked
        if last[0] is self:
            return last[1]
        assert self._packed is not None
        blob = bytes(cramjam.lz4.decompress_block(self._packed))
        _last_unpacked = (self, blob)
        return blob

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def min_ts(self) -> int:
        return int(self.ts[0])

    @property
    def max_ts(self) -> int:
        return int(self.ts[-1])

    def _bounds(self, lo: int, hi: int | None) -> tuple[int, int, int]:
        hi = len(self.ts) if hi is None else max(hi, lo)
        return hi, int(self.offsets[lo]), int(self.offsets[hi])

    def lines(self, lo: int = 0, hi: int | None = None) -> list[str]:
        """Lines ``lo`` to ``hi`` (exclusive) as ``str``."""
        hi, a, b = self._bounds(lo, hi)
        if lo >= hi:
            return []
        if self.sep:
            return (
                self.blob[a : b - 1].decode("ascii" if self.ascii else "utf-8", _ERRORS).split("\n")
            )
        offs = self.offsets[lo : hi + 1].tolist()
        if self.ascii:
            text = self.blob[a:b].decode("ascii")
            return [text[x - a : y - a] for x, y in pairwise(offs)]
        blob = self.blob
        return [blob[x:y].decode("utf-8", _ERRORS) for x, y in pairwise(offs)]

    def raw_lines(self, lo: int = 0, hi: int | None = None) -> list[bytes]:
        """Lines ``lo`` to ``hi`` as UTF-8 ``bytes`` (what the JSON parser reads)."""
        hi, a, b = self._bounds(lo, hi)
        if lo >= hi:
            return []
        if self.sep:
            if a == 0 and b == int(self.offsets[-1]):  # the whole block: split it without a copy
                parts = self.blob.split(b"\n")
                parts.pop()
                return parts
            return self.blob[a : b - 1].split(b"\n")
        offs = self.offsets[lo : hi + 1].tolist()
        blob = self.blob
        return [blob[x:y] for x, y in pairwise(offs)]

    def lines_with(self, needle: bytes) -> np.ndarray:
        """Indices of the lines containing ``needle`` (found in the block, not line by line)."""
        starts = []
        find, pos = self.blob.find, 0
        while (pos := find(needle, pos)) >= 0:
            starts.append(pos)
            pos += 1
        if not starts:
            return np.zeros(0, dtype=np.int64)
        pos_arr = np.asarray(starts, dtype=np.int64)
        line = np.searchsorted(self.offsets, pos_arr, "right") - 1
        # Without separators a match may run across two lines: keep those inside one.
        inside = pos_arr + len(needle) <= self.offsets[line + 1] - self.sep
        return np.unique(line[inside])

    def byte_lengths_at(self, idx: np.ndarray) -> np.ndarray:
        """The UTF-8 size of the lines at ``idx``, as float64 (bytes_over_time's samples)."""
        return (self.offsets[idx + 1] - self.offsets[idx] - self.sep).astype(np.float64)

    def lines_at(self, ts: int) -> list[str]:
        """The lines stored at exactly ``ts`` (for the duplicate check)."""
        lo = int(np.searchsorted(self.ts, ts, "left"))
        hi = int(np.searchsorted(self.ts, ts, "right"))
        return self.lines(lo, hi)

    def span(self, start_ns: int, end_ns: int, side: Side) -> tuple[int, int]:
        """Index range of [start, end) (side "left") or (start, end] (side "right")."""
        lo = np.searchsorted(self.ts, start_ns, side)
        return int(lo), int(np.searchsorted(self.ts, end_ns, side))


def merge(chunk: Chunk, extra: list[tuple[int, str]]) -> Chunk:
    """A new chunk with ``extra`` entries added; existing entries stay first among equal times."""
    ts = np.concatenate(
        [chunk.ts, np.fromiter((t for t, _ in extra), dtype=np.int64, count=len(extra))]
    )
    lines = chunk.lines() + [line for _, line in extra]
    order = np.argsort(ts, kind="stable")
    return Chunk(ts[order], [lines[i] for i in order.tolist()])
