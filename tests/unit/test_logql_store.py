"""The stand-in's storage: chunks hold lines exactly, and a store of many small chunks keeps
every entry once, in time order, across late arrivals, resends and restarts."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from labkit.standins.loki import chunks
from labkit.standins.loki.chunks import Chunk
from labkit.standins.loki.store import PartialPushError, Store

ODD_LINES = [
    "plain",
    "",
    "naïve café ☕",
    '{"a":1}',
    "two\nlines",
    "tab\there",
    "x" * 1000,
    "\x00nul",
]


@pytest.mark.parametrize(
    "lines",
    [ODD_LINES, [ln for ln in ODD_LINES if "\n" not in ln], ["ascii only", "b"]],
    ids=["with-newline", "utf8", "ascii"],
)
@pytest.mark.parametrize("packed", [False, True], ids=["open", "packed"])
def test_chunk_gives_back_every_line(lines: list[str], packed: bool) -> None:
    """Lines come back as stored, whole or in part, as str or bytes, compressed or not."""
    chunk = Chunk(np.arange(len(lines), dtype=np.int64), lines)
    if packed:
        chunk.pack()
    assert chunk.lines() == lines
    assert chunk.raw_lines() == [ln.encode() for ln in lines]
    for lo in range(len(lines) + 1):
        for hi in range(lo, len(lines) + 1):
            assert chunk.lines(lo, hi) == lines[lo:hi]
            assert chunk.raw_lines(lo, hi) == [ln.encode() for ln in lines[lo:hi]]
    idx = np.arange(len(lines))
    assert chunk.byte_lengths_at(idx).tolist() == [len(ln.encode()) for ln in lines]
    for needle in (b"a", b"inna", b"\n", b"o\nl", b"}tab", b"x" * 3):  # some would span two lines
        assert chunk.lines_with(needle).tolist() == [
            i for i, ln in enumerate(lines) if needle in ln.encode()
        ]


def _entries(store: Store, labels: dict[str, str]) -> list[tuple[int, str]]:
    stream = store.streams[tuple(sorted(labels.items()))]
    out: list[tuple[int, str]] = []
    for c in stream.view():
        out.extend(zip(c.ts.tolist(), c.lines(), strict=True))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_many_small_chunks_keep_every_entry_once_in_order(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random batches, late entries, resends and equal timestamps, across sealed chunks and a
    restart, store what a sorted set of the entries says (equal times in arrival order)."""
    monkeypatch.setattr(chunks, "CHUNK_LINES", 5)
    rng = random.Random(seed)
    labels = {"job": "t"}
    arrived: list[tuple[int, str]] = []
    sent: list[list[tuple[int, str]]] = []
    store = Store(tmp_path)
    try:
        for _ in range(40):
            if sent and rng.random() < 0.2:
                batch = list(rng.choice(sent))  # a shipper resending a batch
            else:
                base = rng.randrange(0, 60)
                batch = [
                    (base + rng.randrange(-20, 5), f"l{rng.randrange(8)}")
                    for _ in range(rng.randrange(1, 9))
                ]
                if rng.random() < 0.5:
                    batch.sort()
            sent.append(batch)
            new = store.push([(labels, batch)])
            expected_new = []
            for e in batch:
                if e not in arrived:
                    arrived.append(e)
                    expected_new.append(e)
            assert new == len(expected_new)
        expected = sorted(arrived, key=lambda e: e[0])  # stable: arrival order among equal times
        assert _entries(store, labels) == expected
        stream = store.streams[tuple(labels.items())]
        assert len(stream.chunks) > 1
        for lo, hi, start_open in [
            (10, 30, False),
            (10, 30, True),
            (-100, 100, False),
            (25, 25, True),
        ]:
            got = [
                (t, ln)
                for c, a, b in store.pieces(stream, lo, hi, start_open=start_open)
                for t, ln in zip(c.ts[a:b].tolist(), c.lines(a, b), strict=True)
            ]
            inside = (lambda t: lo < t <= hi) if start_open else (lambda t: lo <= t < hi)  # noqa: B023
            assert got == [e for e in expected if inside(e[0])]
    finally:
        store.close()
    store = Store(tmp_path)
    try:
        assert _entries(store, labels) == expected
        assert store.push([(labels, expected[:7])]) == 0  # still known after the restart
    finally:
        store.close()


def test_has_entries_and_active_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream counts as active when it has an entry in [start, end], sealed or not."""
    monkeypatch.setattr(chunks, "CHUNK_LINES", 2)
    store = Store(tmp_path)
    try:
        store.push(
            [({"job": "a"}, [(10, "x"), (20, "y"), (30, "z")]), ({"job": "b"}, [(100, "w")])]
        )
        assert [s.labels["job"] for s in store.active(15, 25)] == ["a"]
        assert [s.labels["job"] for s in store.active(30, 100)] == ["a", "b"]
        assert store.active(31, 99) == []
    finally:
        store.close()


def test_a_timestamp_numpy_cannot_hold_is_refused_alone(tmp_path: Path) -> None:
    """A time beyond int64 nanoseconds is refused with its stream named; the valid entries of
    the same push are stored, as Loki does with a partial push."""
    store = Store(tmp_path)
    try:
        with pytest.raises(PartialPushError, match="out of range") as info:
            store.push([({"job": "a"}, [(1, "ok")]), ({"job": "b"}, [(2**63, "too late")])])
        assert info.value.stored == 1
        assert "total ignored: 1 out of 1 for stream: {job=\"b\"}" in str(info.value)
        assert list(store.streams) == [(("job", "a"),)]
    finally:
        store.close()


def test_json_columns_are_built_at_seal_and_cached(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealing builds the columns of few-valued fields; other fields are read by the first
    query that needs them and then kept, so a repeated query parses nothing."""
    from labkit.standins.loki import jsoncols
    from labkit.standins.loki.evaluator import Grid, Stats, evaluate
    from labkit.standins.loki.parser import parse

    monkeypatch.setattr(chunks, "CHUNK_LINES", 40)
    reads: list[int] = []
    real_run = jsoncols._Reader.run
    monkeypatch.setattr(jsoncols._Reader, "run",
                        lambda self, c: reads.append(len(c)) or real_run(self, c))
    lines = [f'{{"model":"m{i % 3}","user_id":"u{i}"}}' for i in range(64)]  # one sealed chunk
    store = Store(tmp_path)
    try:
        store.push([({"job": "a"}, [(10**9 * (i + 1), ln) for i, ln in enumerate(lines)])])
        assert reads == [40]  # model's column, built at seal; user_id has too many values

        def run(query: str) -> list[int]:
            reads.clear()
            evaluate(store, parse(query), Grid.instant(100 * 10**9), Stats())  # type: ignore[arg-type]
            return reads

        assert run('sum by (model) (count_over_time({job="a"} | json [2m]))') == [24]  # the head
        assert run('sum by (user_id) (count_over_time({job="a"} | json [2m]))') == [40, 24]
        assert run('sum by (user_id) (count_over_time({job="a"} | json [2m]))') == []
        assert run('sum by (model) (count_over_time({job="a"} | json [2m]))') == []
    finally:
        store.close()
