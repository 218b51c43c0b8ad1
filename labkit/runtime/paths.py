"""Where labkit keeps what it installs: binaries, the llama-server build, models."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["bin_dir", "cache_dir", "models_dir"]

CACHE_ENV = "LABKIT_CACHE_DIR"


def cache_dir() -> Path:
    """Return labkit's cache directory, creating it: ``$LABKIT_CACHE_DIR`` or the user cache dir.

    >>> cache_dir()  # doctest: +SKIP
    PosixPath('/home/me/.cache/labkit')
    """
    override = os.environ.get(CACHE_ENV, "").strip()
    path = Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("labkit"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def bin_dir() -> Path:
    """Return the cache's ``bin/`` folder, where downloaded release binaries are unpacked."""
    path = cache_dir() / "bin"
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Return the cache's ``models/`` folder, where generated GGUF models live."""
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
