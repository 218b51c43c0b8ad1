"""The reference answers of every exercise, kept in one data file and read on first use.

Checks never hold a solution in their own code: they ask :func:`reference` for it when
they run. Keeping every solution in ``references.yaml`` beside this module is what lets
``labkit grade`` keep them out of a student's kernel (the file is absent from a student
install, or unreadable there) while the grader's own process reads it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from labkit.errors import LabError

__all__ = ["REFERENCES_FILE", "reference"]

REFERENCES_FILE = Path(__file__).with_name("references.yaml")


@functools.cache
def _load(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise LabError(f"the exercises' reference answers are not readable here ({path}: "
                       f"{exc.strerror}); checks run where the instructor's labkit is "
                       "installed") from None
    return {str(k): str(v) for k, v in data.items()}


def reference(exercise_id: str, path: Path | None = None) -> str:
    """The reference answer (a PromQL or LogQL query) of ``exercise_id``."""
    found = _load(path or REFERENCES_FILE)
    try:
        return found[exercise_id]
    except KeyError:
        raise KeyError(f"no reference answer for {exercise_id!r}") from None
