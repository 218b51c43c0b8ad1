"""The graded kernel's copy of labkit lacks every solution file, compiled copies included."""

from __future__ import annotations

from pathlib import Path

import labkit
from labkit.grading.kernel import SOLUTION_FILES, KernelJail, _compiled_from


def test_the_stripped_package_has_no_solution_file(tmp_path: Path) -> None:
    jail = KernelJail(root=tmp_path, isolate=False)
    for relative in SOLUTION_FILES:
        assert (jail.package / relative).exists(), relative  # the list names real files
        assert not (jail.stripped / relative).exists(), relative
    assert (jail.stripped / "exercises" / "sets" / "traces.py").exists()


def test_solution_sources_are_masked_and_bytecode_counts_as_its_source(tmp_path: Path) -> None:
    package = Path(labkit.__file__).resolve().parent
    hidden, _ = KernelJail(root=tmp_path, isolate=False).masks()
    for relative in SOLUTION_FILES:
        assert str(package / relative) in hidden
    pyc = Path("exercises/__pycache__/trace_solutions.cpython-311.pyc")
    assert _compiled_from(pyc).as_posix() == "exercises/trace_solutions.py"
    assert _compiled_from(Path("exercises/sets/traces.py")) == Path("exercises/sets/traces.py")
