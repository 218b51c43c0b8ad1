"""Grading: ``labkit grade`` executes submissions in jailed kernels and recomputes every verdict.

    >>> from labkit.grading import GradeSettings, grade                  # doctest: +SKIP
    >>> rows = grade([Path("submissions")], Path("grades"), GradeSettings(Path("notebooks")))
"""

from labkit.grading.report import Row
from labkit.grading.runner import GradeSettings, Submission, find_submissions, grade

__all__ = ["GradeSettings", "Row", "Submission", "find_submissions", "grade"]
