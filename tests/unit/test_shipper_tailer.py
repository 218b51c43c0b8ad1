"""The tailer reads every complete line once, across restarts and rotations."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from labkit.shipper.positions import load_positions, save_positions
from labkit.shipper.tailer import Tailer


def write(path: Path, *lines: str, end: str = "\n") -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(f"{ln}{end}" for ln in lines))


def drain(tailer: Tailer, max_lines: int = 1000) -> list[str]:
    return [ln.text for ln in tailer.poll(max_lines)]


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    return tmp_path / "gateway.log"


def test_reads_complete_lines_then_only_new_ones(log: Path) -> None:
    """Each poll returns the lines appended since the last one."""
    write(log, "a", "b")
    tailer = Tailer(f"{log}*")
    assert drain(tailer) == ["a", "b"]
    assert drain(tailer) == []
    write(log, "c")
    assert drain(tailer) == ["c"]


def test_partial_last_line_waits_for_its_newline(log: Path) -> None:
    """A line without its newline is not returned until it is complete."""
    log.write_text("one\ntw")
    tailer = Tailer(f"{log}*")
    assert drain(tailer) == ["one"]
    with log.open("a") as fh:
        fh.write("o\n")
    assert drain(tailer) == ["two"]


def test_max_lines_leaves_the_rest_for_the_next_poll(log: Path) -> None:
    """A poll stops at max_lines and the next one continues where it stopped."""
    write(log, *[f"l{i}" for i in range(5)])
    tailer = Tailer(f"{log}*")
    assert drain(tailer, 2) == ["l0", "l1"]
    assert drain(tailer, 10) == ["l2", "l3", "l4"]


def test_resumes_from_saved_positions(log: Path, tmp_path: Path) -> None:
    """A new tailer given the saved positions returns only unread lines."""
    write(log, "a", "b")
    first = Tailer(f"{log}*")
    drain(first)
    save_positions(tmp_path / "pos.json", first.snapshot())
    first.close()
    write(log, "c")
    second = Tailer(f"{log}*", load_positions(tmp_path / "pos.json"))
    assert drain(second) == ["c"]


def test_rename_rotation_finishes_old_file_first(log: Path) -> None:
    """After gateway.log is renamed to .1 and recreated, the old tail comes before new lines."""
    write(log, "old1")
    tailer = Tailer(f"{log}*")
    assert drain(tailer) == ["old1"]
    write(log, "old2")
    log.rename(log.with_name("gateway.log.1"))
    write(log, "new1")
    assert drain(tailer) == ["old2", "new1"]
    assert drain(tailer) == []


def test_rotation_while_stopped_loses_and_repeats_nothing(log: Path, tmp_path: Path) -> None:
    """Positions follow the inode, so a file renamed while stopped resumes under its new name."""
    write(log, "a")
    first = Tailer(f"{log}*")
    drain(first)
    save_positions(tmp_path / "pos.json", first.snapshot())
    first.close()
    write(log, "b")
    log.rename(log.with_name("gateway.log.1"))
    write(log, "c")
    second = Tailer(f"{log}*", load_positions(tmp_path / "pos.json"))
    assert drain(second) == ["b", "c"]


def test_deleted_file_is_drained_through_its_open_descriptor(log: Path) -> None:
    """Lines written just before a file is deleted are still read."""
    write(log, "a")
    tailer = Tailer(f"{log}*")
    drain(tailer)
    write(log, "b")
    log.unlink()
    assert drain(tailer) == ["b"]
    assert tailer.snapshot() == {}


@pytest.mark.parametrize("poll_between", [False, True],
                         ids=["copy-and-truncate", "poll-after-copy"])
def test_copytruncate_neither_loses_nor_repeats(log: Path, poll_between: bool) -> None:
    """A copy of the live file is read from the offset reached; the truncated file from 0."""
    write(log, "a")
    tailer = Tailer(f"{log}*")
    assert drain(tailer) == ["a"]
    write(log, "b")
    shutil.copyfile(log, log.with_name("gateway.log.1"))
    seen = drain(tailer) if poll_between else []
    with log.open("r+") as fh:
        fh.truncate(0)
    write(log, "c")
    seen += drain(tailer)
    assert seen == ["b", "c"]


@pytest.mark.parametrize("seen_at", [0, 1, 3], ids=["empty", "half-a-line", "two-lines"])
def test_copy_seen_while_being_written_repeats_nothing(log: Path, seen_at: int) -> None:
    """A copy polled before its copying ended still continues where the original stopped.

    logrotate and shutil.copyfile create the copy empty and fill it; the live file
    may be truncated before the tailer sees the copy's first line or its end.
    """
    write(log, "aa", "bb", "cc", "dd")
    tailer = Tailer(f"{log}*")
    assert drain(tailer) == ["aa", "bb", "cc", "dd"]
    write(log, "ee")
    content = log.read_bytes()
    copy = log.with_name("gateway.log.1")
    copy.write_bytes(content[:seen_at * 3 // 2] if seen_at == 1 else content[:seen_at * 3])
    seen = drain(tailer)  # the live file gives "ee"; the copy is incomplete
    with log.open("r+") as fh:
        fh.truncate(0)
    assert drain(tailer) == []
    copy.write_bytes(content)
    write(log, "ff")
    seen += drain(tailer)
    assert seen == ["ee", "ff"]


def test_truncation_to_a_longer_file_is_detected_by_its_first_line(log: Path) -> None:
    """A file truncated and refilled past the old offset is read again from the start."""
    write(log, "first")
    tailer = Tailer(f"{log}*")
    drain(tailer)
    with log.open("r+") as fh:
        fh.truncate(0)
    write(log, "second-line-longer-than-before", "third")
    assert drain(tailer) == ["second-line-longer-than-before", "third"]


def test_reused_inode_with_other_content_starts_from_zero(log: Path, tmp_path: Path) -> None:
    """Saved positions whose first line no longer matches are not trusted."""
    write(log, "aaaa", "bbbb")
    first = Tailer(f"{log}*")
    drain(first)
    states = first.snapshot()
    first.close()
    log.write_text("cccc\ndddd\neeee\n")  # same inode, different content, longer
    assert drain(Tailer(f"{log}*", states)) == ["cccc", "dddd", "eeee"]


def test_files_not_matching_the_glob_are_ignored(tmp_path: Path, log: Path) -> None:
    """Only files matched by the pattern are read."""
    write(log, "yes")
    write(tmp_path / "other.log", "no")
    assert drain(Tailer(os.fspath(tmp_path / "gateway.log*"))) == ["yes"]


def test_hundreds_of_files_are_tailed_past_the_remembered_first_lines(tmp_path: Path) -> None:
    """More files than first lines remembered (256): each is still read once, in full."""
    for n in range(300):
        write(tmp_path / f"app-{n:03d}.log", f"first {n}", f"second {n}")
    tailer = Tailer(f"{tmp_path}/app-*.log")
    seen = drain(tailer, max_lines=1000)
    assert sorted(seen) == sorted(f"{w} {n}" for n in range(300) for w in ("first", "second"))
    assert drain(tailer) == []
