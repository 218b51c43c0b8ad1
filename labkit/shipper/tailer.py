"""Follow a glob of log files by identity, line by line, across rotations.

The tailer keeps each matched file open and remembers, per identity
(device:inode), the byte offset of the next unread line. That handles the two
rotation styles the lab meets:

* rename and create (``RotatingFileHandler``, ``WatchedFileHandler``): the old
  inode keeps its offset under its new name and is finished, oldest file first,
  before the new file is read; a file that disappears is drained through the
  still-open descriptor.
* copy and truncate (logrotate ``copytruncate``): the live file's first line
  changes (or it shrinks below the offset), so it is read again from byte 0;
  the copy has the same first line as what was already read, so it is read from
  the offset already reached, never from the start, even when it was first seen
  empty or half-copied and the original was truncated meanwhile.

Only complete lines are returned: a last line without its newline waits.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import stat
from dataclasses import dataclass, replace

from labkit.shipper.positions import FileState

__all__ = ["Line", "Tailer"]

log = logging.getLogger("labkit.shipper")

_HEAD_PROBE = 4096  # most gateway lines fit; longer first lines are probed further
_HEAD_MAX = 65536
_HEADS_REMEMBERED = 256  # first lines whose offset outlives a truncation, for late copies


@dataclass(frozen=True)
class Line:
    """One complete line read from a file (without its newline)."""

    text: str
    file: str  # identity, "dev:ino"
    path: str


def _head(fd: int, size: int) -> str | None:
    """Hash of the file's first complete line, or None while it has none."""
    data = os.pread(fd, min(size, _HEAD_PROBE), 0)
    end = data.find(b"\n")
    if end < 0 and size > len(data):
        data = os.pread(fd, min(size, _HEAD_MAX), 0)
        end = data.find(b"\n")
    if end < 0:
        # a first line longer than _HEAD_MAX: its first _HEAD_MAX bytes stand for it
        return hashlib.sha256(data).hexdigest() if len(data) >= _HEAD_MAX else None
    return hashlib.sha256(data[: end + 1]).hexdigest()


class Tailer:
    """Read new complete lines from every file matching ``pattern``.

    ``states`` are the positions to resume from (see ``positions.py``); the
    tailer advances its own copy, and ``snapshot()`` returns the positions that
    correspond to every line returned so far.
    """

    def __init__(self, pattern: str, states: dict[str, FileState] | None = None,
                 *, max_read: int = 1 << 20) -> None:
        self.pattern = pattern
        self._states: dict[str, FileState] = {k: replace(v) for k, v in (states or {}).items()}
        self._fds: dict[str, int] = {}
        self._max_read = max_read
        # How far the file starting with each first line was read, remembered past its
        # truncation: a copy is made empty and then filled (logrotate, shutil.copyfile),
        # and the original may be truncated before the copy shows its first line or its
        # end, yet the copy must still skip what the original gave.
        self._reached: dict[str, int] = {}

    def snapshot(self) -> dict[str, FileState]:
        """Positions after every line returned so far (for the positions file)."""
        return {k: replace(v) for k, v in self._states.items()}

    def close(self) -> None:
        """Close every open file; safe to call twice."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def poll(self, max_lines: int) -> list[Line]:
        """Discover files, detect rotation and truncation, and read up to ``max_lines``."""
        matched = self._discover()
        sizes = {key: os.fstat(fd).st_size for key, fd in self._fds.items()}
        heads = {key: _head(self._fds[key], sizes[key]) for key in self._fds}
        self._reconcile(matched, sizes, heads)
        lines: list[Line] = []
        for key in self._read_order():
            if len(lines) >= max_lines:
                break
            lines.extend(self._read(key, sizes[key], max_lines - len(lines)))
            self._sync_copies(sizes)  # a copy must not repeat what its original just gave
            # Only a deleted file is let go: one merely missed by this glob (renamed
            # between glob and stat) must keep its offset or it would be re-read.
            deleted = os.fstat(self._fds[key]).st_nlink == 0
            if key not in matched and deleted and self._states[key].offset >= sizes[key]:
                log.info("finished %s (deleted) at byte %d",
                         self._states[key].path, self._states[key].offset)
                os.close(self._fds.pop(key))
                del self._states[key]
        return lines

    def _discover(self) -> dict[str, str]:
        """Open newly matched files; return identity -> path of every matched file."""
        matched: dict[str, str] = {}
        for path in sorted(glob.glob(self.pattern)):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue  # rotated away between glob and stat; found again next poll
            if not stat.S_ISREG(st.st_mode):
                continue
            key = f"{st.st_dev}:{st.st_ino}"
            if key not in self._fds:
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                st = os.fstat(fd)  # the name may point to a newer file by now
                key = f"{st.st_dev}:{st.st_ino}"
                if key in self._fds:
                    os.close(fd)
                else:
                    self._fds[key] = fd
            matched.setdefault(key, path)
        return matched

    def _reconcile(self, matched: dict[str, str], sizes: dict[str, int],
                   heads: dict[str, str | None]) -> None:
        """Update states for renames, new files, copies and truncations."""
        self._remember_offsets()
        for key in self._fds:
            state = self._states.get(key)
            path = matched.get(key, state.path if state else "?")
            head, size = heads[key], sizes[key]
            if state is None:
                state = self._states[key] = FileState(path=path, offset=0, head=None)
            if path != state.path:
                log.info("rotation detected: %s is now %s; finishing it from byte %d",
                         state.path, path, state.offset)
                state.path = path
            if (state.head is not None and head != state.head) or size < state.offset:
                log.info("truncation detected on %s (copytruncate rotation): "
                         "reading it again from the start", path)
                if head is not None and head == state.head:
                    self._reached.pop(head, None)  # rewritten from the same first line
                state.offset, state.head = 0, head
            elif state.head is None and head is not None:
                state.head = head  # its first line is complete: is it a copy?
                if self._reached.get(head, 0):
                    log.info("%s is a copy of a file already shipped to byte %d "
                             "(copytruncate rotation): continuing there",
                             path, self._reached[head])
                else:
                    log.info("tailing %s from the start", path)
        self._sync_copies(sizes)
        for key in [k for k in self._states if k not in self._fds]:
            del self._states[key]  # in the positions file, but gone from disk

    def _remember_offsets(self) -> None:
        """Note how far each first line was read (the newest last, the oldest forgotten)."""
        for state in self._states.values():
            if state.head is not None:
                reached = max(state.offset, self._reached.pop(state.head, 0))
                self._reached[state.head] = reached
        while len(self._reached) > _HEADS_REMEMBERED:
            del self._reached[next(iter(self._reached))]

    def _sync_copies(self, sizes: dict[str, int]) -> None:
        """Files with the same first line share content: skip what any of them shipped."""
        self._remember_offsets()
        for key, state in self._states.items():
            if state.head is not None and key in self._fds:
                reached = self._reached.get(state.head, 0)  # forgotten past 256 files
                state.offset = max(state.offset, min(reached, sizes[key]))

    def _read_order(self) -> list[str]:
        """Oldest file first, so a rotated file is finished before its successor."""
        def key(k: str) -> tuple[int, int, str]:
            path = self._states[k].path
            return (os.fstat(self._fds[k]).st_mtime_ns, -len(path), path)
        return sorted(self._fds, key=key)

    def _read(self, key: str, size: int, max_lines: int) -> list[Line]:
        """Read complete lines from one file, advancing its offset past each."""
        state, fd = self._states[key], self._fds[key]
        lines: list[Line] = []
        while len(lines) < max_lines and state.offset < size:
            want = min(size - state.offset, self._max_read)
            data = os.pread(fd, want, state.offset)
            end = data.rfind(b"\n")
            if end < 0:
                if want < size - state.offset:  # one line longer than max_read
                    data = os.pread(fd, size - state.offset, state.offset)
                    end = data.rfind(b"\n")
                if end < 0:
                    break  # a partial last line: wait for its newline
            for raw in data[:end].split(b"\n"):
                if len(lines) >= max_lines:
                    break
                state.offset += len(raw) + 1
                text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
                lines.append(Line(text=text, file=key, path=state.path))
        return lines
