"""The stand-in's entry log: framed records that survive a crash mid-write.

File format (version 2): the 8-byte header ``LKLOKI\\x00\\x02``, then records, each
``MAGIC (4 bytes) | length (u32 LE) | crc32 of payload (u32 LE) | payload`` where the payload
is one JSON document ``{"s": labels, "v": [[ts, line], ...]}``. The magic starts with 0xFF,
a byte UTF-8 text (so a JSON payload) never contains, so after a damaged record the reader
finds the next record by its magic and checks it by its CRC: a torn or corrupt record is
skipped, the good ones after it are kept, and only garbage after the last good record is cut
off (so appends never follow garbage).

Version 1 files (one JSON document per line, no header) are migrated on open: every line
that parses is rewritten as a record, lines that do not are skipped, and the new file
replaces the old one atomically.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

HEADER = b"LKLOKI\x00\x02"
MAGIC = b"\xff\xfeLR"
_FRAME = struct.Struct("<4sII")
MAX_RECORD = 1 << 31


def frame(payload: bytes) -> bytes:
    """One record: magic, length, checksum, payload."""
    return _FRAME.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _valid_at(data: bytes | mmap.mmap, pos: int) -> int:
    """The end of a good record starting at ``pos``, or -1."""
    if len(data) - pos < _FRAME.size or data[pos:pos + 4] != MAGIC:
        return -1
    _, length, crc = _FRAME.unpack_from(data, pos)
    end = pos + _FRAME.size + length
    if end > len(data) or zlib.crc32(data[pos + _FRAME.size:end]) != crc:
        return -1
    return end


class Scan:
    """Reads the records of an open log file from ``start``, sequentially (a small buffer,
    whatever the file's size); only after a damaged record does it map the file to find
    the next good one. After iterating, ``good_end`` is the end of the last good record
    and ``skipped`` the damaged bytes passed over."""

    def __init__(self, f: BinaryIO, size: int, start: int) -> None:
        self.f, self.size, self.start = f, size, start
        self.good_end, self.skipped = start, 0

    def __iter__(self) -> Iterator[bytes]:
        f, size, pos = self.f, self.size, self.start
        f.seek(pos)
        while pos < size:
            head = f.read(_FRAME.size)
            if len(head) == _FRAME.size and head[:4] == MAGIC:
                _, length, crc = _FRAME.unpack(head)
                if pos + _FRAME.size + length <= size:
                    payload = f.read(length)
                    if len(payload) == length and zlib.crc32(payload) == crc:
                        yield payload
                        pos = self.good_end = pos + _FRAME.size + length
                        continue
            nxt = self._next_good(pos)
            if nxt < 0:
                return  # nothing good follows: a torn tail
            self.skipped += nxt - pos
            pos = nxt
            f.seek(pos)

    def _next_good(self, pos: int) -> int:
        with mmap.mmap(self.f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            nxt = data.find(MAGIC, pos + 1)
            while nxt >= 0 and _valid_at(data, nxt) < 0:
                nxt = data.find(MAGIC, nxt + 1)
            return nxt


def replay(path: Path) -> Iterator[dict[str, object]]:
    """Every good record of ``path``, one at a time (migrating a version 1 file first),
    then cutting a torn tail off the file so new records follow the last good one."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb") as src:
        head = src.read(len(HEADER))
    if head != HEADER:
        _migrate_v1(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        scan = Scan(f, size, len(HEADER))
        for payload in scan:
            try:
                doc = orjson.loads(payload)
            except orjson.JSONDecodeError:  # a checksum collision on garbage: skip it too
                continue
            if isinstance(doc, dict):
                yield doc
    if scan.skipped or scan.good_end != size:
        print(f"loki stand-in: {path}: skipped {scan.skipped} damaged bytes, cut "
              f"{size - scan.good_end} bytes of a torn last record", file=sys.stderr)
    if scan.good_end != size:
        with open(path, "r+b") as out:
            out.truncate(scan.good_end)


def _migrate_v1(path: Path) -> None:
    tmp = path.with_suffix(".v2.tmp")
    kept = dropped = 0
    with open(path, "rb") as old, open(tmp, "wb") as new:
        new.write(HEADER)
        for raw in old:
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                dropped += 1
                continue
            new.write(frame(orjson.dumps(doc)))
            kept += 1
        new.flush()
        os.fsync(new.fileno())
    os.replace(tmp, path)
    print(f"loki stand-in: migrated {path} to format 2 ({kept} records, {dropped} unreadable "
          "lines skipped)", file=sys.stderr)


class EntryLog:
    """Appends records; with ``fsync`` each append reaches the disk before it returns."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path, self.fsync = path, fsync
        new = not path.exists() or path.stat().st_size == 0
        self._file = open(path, "ab")
        if new:
            self._file.write(HEADER)
            self._file.flush()

    def append(self, payloads: list[bytes]) -> None:
        """Write the records, all or nothing: on an error the file is cut back and the
        error raised (the caller then answers that nothing was stored)."""
        blob = b"".join(frame(p) for p in payloads)
        start = self._file.tell()
        try:
            self._file.write(blob)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        except OSError:
            try:
                self._file.truncate(start)
                self._file.seek(start)
            except OSError:
                pass  # the record is then torn, which replay skips
            raise

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
