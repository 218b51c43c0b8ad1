"""Acknowledged means stored: framed records, replay past damage, write before memory,
migration of the old line format, partial pushes."""

from __future__ import annotations

import errno
from pathlib import Path

import orjson
import pytest

from labkit.standins.loki import wal
from labkit.standins.loki.pushcheck import PushLimits
from labkit.standins.loki.store import PartialPushError, Store, StoreWriteError

S = 10**9


def _lines(store: Store, job: str) -> list[tuple[int, str]]:
    stream = store.streams.get((("job", job),))
    if stream is None:
        return []
    return [(t, ln) for c in stream.view() for t, ln in zip(c.ts.tolist(), c.lines(), strict=True)]


def _push_batches(path: Path, n: int) -> list[list[tuple[int, str]]]:
    batches = [[(S * (10 * i + j + 1), f"batch {i} line {j}") for j in range(3)] for i in range(n)]
    store = Store(path)
    for b in batches:
        store.push([({"job": "a"}, b)])
    store.close()
    return batches


def _record_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    out, pos = [], len(wal.HEADER)
    while pos < len(data):
        out.append(pos)
        length = int.from_bytes(data[pos + 4:pos + 8], "little")
        pos += 12 + length
    return out


def test_a_corrupt_record_in_the_middle_loses_only_itself(tmp_path: Path) -> None:
    """A flipped byte inside one record skips that record; the ones after it are kept."""
    batches = _push_batches(tmp_path, 4)
    log = tmp_path / "entries.log"
    offsets = _record_offsets(log)
    data = bytearray(log.read_bytes())
    data[offsets[1] + 20] ^= 0x55  # inside the second record's payload
    log.write_bytes(bytes(data))
    store = Store(tmp_path)
    try:
        assert _lines(store, "a") == batches[0] + batches[2] + batches[3]
    finally:
        store.close()


def test_a_torn_last_record_is_cut_and_appends_follow_the_good_ones(tmp_path: Path) -> None:
    """A record cut short by a crash is dropped, the file cut back, and new pushes replay."""
    batches = _push_batches(tmp_path, 3)
    log = tmp_path / "entries.log"
    good = log.stat().st_size
    with open(log, "ab") as f:
        f.write(wal.frame(b'{"s":[["job","a"]],"v":[[99,"torn"]]}')[:-7])
    store = Store(tmp_path)
    try:
        assert log.stat().st_size == good
        store.push([({"job": "a"}, [(S * 100, "after")])])
    finally:
        store.close()
    store = Store(tmp_path)
    try:
        assert _lines(store, "a") == [e for b in batches for e in b] + [(S * 100, "after")]
    finally:
        store.close()


def test_old_line_format_is_migrated_keeping_every_readable_record(tmp_path: Path) -> None:
    """A version 1 file (JSON lines) is read, a bad line in it skipped, and rewritten framed."""
    log = tmp_path / "entries.log"
    rows = [orjson.dumps({"s": [["job", "a"]], "v": [[S * i, f"l{i}"]]}) for i in (1, 2, 3)]
    log.write_bytes(rows[0] + b"\n" + b'{"s": [["job", "a"]], "v": [[4, "x"' + b"\n"
                    + rows[1] + b"\n" + rows[2] + b"\n")
    store = Store(tmp_path)
    try:
        assert _lines(store, "a") == [(S, "l1"), (2 * S, "l2"), (3 * S, "l3")]
    finally:
        store.close()
    assert log.read_bytes().startswith(wal.HEADER)
    store = Store(tmp_path)
    try:
        assert len(_lines(store, "a")) == 3
    finally:
        store.close()


def test_a_failed_write_stores_nothing_and_a_retry_is_not_a_duplicate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the log cannot be written the push fails (503) and memory is unchanged, so the
    client's retry is stored instead of being dropped as a duplicate."""
    store = Store(tmp_path)
    try:
        entries = [(S, "one"), (2 * S, "two")]
        real = store._log._file.write

        def full_disk(data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(store._log._file, "write", full_disk)
        with pytest.raises(StoreWriteError, match="nothing was stored"):
            store.push([({"job": "a"}, entries)])
        assert _lines(store, "a") == []
        monkeypatch.setattr(store._log._file, "write", real)
        assert store.push([({"job": "a"}, entries)]) == 2
    finally:
        store.close()
    store = Store(tmp_path)
    try:
        assert _lines(store, "a") == [(S, "one"), (2 * S, "two")]
    finally:
        store.close()


def test_fsync_setting_syncs_each_push(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With fsync=True every acknowledged push is fsynced before push() returns."""
    synced: list[int] = []
    monkeypatch.setattr(wal.os, "fsync", lambda fd: synced.append(fd))
    store = Store(tmp_path, fsync=True)
    try:
        store.push([({"job": "a"}, [(S, "x")])])
        store.push([({"job": "a"}, [(S, "x")])])  # a duplicate writes nothing
        assert len(synced) == 1
    finally:
        store.close()


@pytest.mark.parametrize(("streams", "message", "kept"), [
    ([({"job": "a"}, [(S, "ok"), (2 * S, "x" * 300_000)])],
     "Max entry size '262144' bytes exceeded for stream '{job=\"a\"}'", [(S, "ok")]),
    ([({"job": "a"}, [(S, "ok")]), ({"1bad": "x"}, [(S, "no")])],
     'invalid label name "1bad"', [(S, "ok")]),
    ([({"job": "a"}, [(S, "ok")]), ({}, [(S, "no")])],
     "at least one label pair is required", [(S, "ok")]),
    ([({"job": "a"}, [(S, "ok"), (2**62, "future")])], "has timestamp too new", [(S, "ok")]),
    ([({"job": "a", **{f"l{i}": "v" for i in range(15)}}, [(S, "no")]),
      ({"job": "a"}, [(S, "ok")])], "has 16 label names; limit 15", [(S, "ok")]),
], ids=["line-too-long", "bad-label-name", "no-labels", "too-new", "too-many-labels"])
def test_partial_push_keeps_valid_entries_and_names_the_rejected(
        tmp_path: Path, streams: list, message: str, kept: list) -> None:  # type: ignore[type-arg]
    """A push with invalid entries stores the valid ones and reports the others in Loki's words."""
    store = Store(tmp_path)
    try:
        with pytest.raises(PartialPushError, match=message.replace("(", r"\(").replace(
                "{", r"\{")) as info:
            store.push(streams)
        assert info.value.stored == len(kept)
        assert _lines(store, "a") == kept
    finally:
        store.close()


def test_too_old_is_refused_only_when_configured(tmp_path: Path) -> None:
    """reject_old_samples is off by default (fixtures use fixed old times); set, it refuses
    entries older than the window with Loki's message."""
    store = Store(tmp_path / "off")
    try:
        assert store.push([({"job": "a"}, [(S, "old")])]) == 1
    finally:
        store.close()
    store = Store(tmp_path / "on", limits=PushLimits(reject_old_max_age_ns=7 * 86400 * S))
    try:
        with pytest.raises(PartialPushError, match="has timestamp too old: 1970-01-01"):
            store.push([({"job": "a"}, [(S, "old")])])
    finally:
        store.close()


def test_garbage_between_records_is_skipped(tmp_path: Path) -> None:
    """Bytes that are no record at all (a half-written frame followed by more writes) are
    passed over: every good record on either side is read."""
    batches = _push_batches(tmp_path, 3)
    log = tmp_path / "entries.log"
    offsets = _record_offsets(log)
    data = log.read_bytes()
    torn = wal.frame(b'{"s":[["job","a"]],"v":[[5,"never acknowledged"]]}')[:-9]
    log.write_bytes(data[:offsets[2]] + torn + b"\x00junk" + data[offsets[2]:])
    store = Store(tmp_path)
    try:
        assert _lines(store, "a") == [e for b in batches for e in b]
    finally:
        store.close()
