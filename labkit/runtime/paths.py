"""Where labkit keeps what it installs: binaries, the llama-server build, models."""

from __future__ import annotations

from pathlib import Path

from labkit.config import LabConfig

__all__ = ["bin_dir", "cache_dir", "models_dir"]


def cache_dir() -> Path:
    """Return labkit's cache directory, creating it: ``$LABKIT_CACHE_DIR`` or the user cache dir.

    >>> cache_dir()  # doctest: +SKIP
    PosixPath('/home/me/.cache/labkit')
    """
    path = LabConfig.from_env().cache_dir
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
