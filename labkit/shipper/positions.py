"""The positions file: how far each tailed file has been shipped.

Files are keyed by identity (device and inode), not by name, so a renamed file
(``gateway.log`` -> ``gateway.log.1``) keeps its offset. Each entry also holds a
hash of the file's first line: a file truncated in place (copytruncate) or an
inode reused by a new file shows a different first line, and a copy of a file
shows the same one. The file is replaced atomically, so a crash leaves either
the old or the new positions, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["FileState", "load_positions", "save_positions"]

_VERSION = 1


@dataclass
class FileState:
    """Where shipping stands in one file."""

    path: str  # the name it was last seen under (informative; identity is the key)
    offset: int  # bytes shipped: always the end of a complete line
    head: str | None  # sha256 of the first complete line, None while there is none


def load_positions(path: Path) -> dict[str, FileState]:
    """Read the positions file; a missing file means nothing was shipped yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        doc = json.loads(text)
        if doc.get("version") != _VERSION:
            raise ValueError(f"version {doc.get('version')!r}, expected {_VERSION}")
        return {
            key: FileState(path=str(e["path"]), offset=int(e["offset"]), head=e.get("head"))
            for key, e in doc["files"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"positions file {path} is unreadable ({exc}); delete it to ship every "
            "matched log file again from the start (Loki drops identical entries)"
        ) from exc


def save_positions(path: Path, states: dict[str, FileState]) -> None:
    """Write the positions atomically: a temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": _VERSION, "files": {k: asdict(s) for k, s in sorted(states.items())}}
    fd, tmp = tempfile.mkstemp(prefix=".positions-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
