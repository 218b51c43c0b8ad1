"""The graded kernel: a stripped copy of labkit, a kernel spec, and the jail's configuration.

:class:`KernelJail` is made once per grading run. ``kernel_env(scratch)`` gives the
environment a papermill worker needs so that its ``labkit-graded`` kernel starts through
:mod:`labkit.grading.jail` for that submission.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import labkit
from labkit.config import LabConfig
from labkit.grading import jail

__all__ = ["KERNEL_NAME", "SOLUTION_FILES", "KernelJail", "isolation_problem"]

KERNEL_NAME = "labkit-graded"
# What a student's kernel must never see, relative to the labkit package.
SOLUTION_FILES = ("exercises/references.yaml", "exercises/trace_solutions.py",
                  "incident/fixes.json")
# What a kernel needs from an instructor's checkout (everything else in it is hidden).
REPO_KEEP = (".venv", "stack")


def isolation_problem() -> str | None:
    """Why kernels cannot be isolated here, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "kernel isolation needs Linux namespaces"
    if os.geteuid() != 0:
        return "kernel isolation needs root (mount namespaces); run `labkit grade` as root"
    if shutil.which("setpriv") is None:
        return "kernel isolation needs setpriv (util-linux)"
    probe = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "true"],
        capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"kernel isolation: unshare failed here ({probe.stderr.strip()})"
    return None


def _git_paths(repo: Path) -> list[Path]:
    """The repository's git directory and every worktree of it: all hold the solutions."""
    try:
        common = subprocess.run(["git", "-C", str(repo), "rev-parse", "--git-common-dir"],
                                capture_output=True, text=True, check=True).stdout.strip()
        listing = subprocess.run(["git", "-C", str(repo), "worktree", "list", "--porcelain"],
                                 capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    paths = [(repo / common).resolve()]
    paths += [Path(line.split(" ", 1)[1]) for line in listing.splitlines()
              if line.startswith("worktree ")]
    return paths


def _compiled_from(relative: Path) -> Path:
    """The source a file stands for: ``x/__pycache__/m.cpython-311.pyc`` is ``x/m.py``."""
    if relative.parent.name == "__pycache__" and relative.suffix == ".pyc":
        return relative.parent.parent / (relative.name.split(".", 1)[0] + ".py")
    return relative


@dataclass
class KernelJail:
    """Everything a graded kernel is started with; see :mod:`labkit.grading.jail`."""

    root: Path
    hidden: list[Path] = field(default_factory=list)
    memory_bytes: int = 4 << 30
    isolate: bool = True

    def __post_init__(self) -> None:
        self.package = Path(labkit.__file__).resolve().parent
        self.stripped = self.root / "site" / "labkit"
        if self.stripped.exists():
            shutil.rmtree(self.stripped)
        shutil.copytree(self.package, self.stripped, ignore=shutil.ignore_patterns(
            "__pycache__", *(Path(p).name for p in SOLUTION_FILES)))

    def masks(self) -> tuple[list[str], list[str]]:
        """(paths hidden from the kernel, paths inside them that it keeps)."""
        hidden = [p.resolve() for p in self.hidden]
        keep: list[Path] = []
        repo = self.package.parent
        if (repo / "pyproject.toml").exists():  # an editable install: hide the checkout
            hidden += [repo, *_git_paths(repo)]
            keep += [repo / name for name in REPO_KEEP]
            config = LabConfig.from_env()
            keep += [Path(p).resolve() for p in (sys.prefix, config.run_dir, config.cache_dir)]
        for path in self.package.rglob("*"):
            if _compiled_from(path.relative_to(self.package)).as_posix() in SOLUTION_FILES:
                hidden.append(path)
        keep = [k for k in keep if k.exists() and any(k.is_relative_to(h) for h in hidden)]
        return sorted({str(h) for h in hidden if h.exists()}), sorted({str(k) for k in keep})

    @staticmethod
    def _run_dir() -> list[str]:
        # The lab's state file and usage database (SQLite in WAL mode needs to write its
        # shared-memory file even to read): the kernel finds the lab through it.
        run_dir = LabConfig.from_env().run_dir
        return [str(run_dir.resolve())] if run_dir.exists() else []

    def kernel_env(self, scratch: Path) -> dict[str, str]:
        """Environment for a papermill worker grading in ``scratch``."""
        dirs = {name: scratch / name for name in ("run", "home", "cwd", "tmp")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        masks, rebind = self.masks()
        env = {"IPYTHONDIR": str(dirs["home"] / "ipython"),
               "MPLCONFIGDIR": str(dirs["home"] / "matplotlib"),
               "TMPDIR": str(dirs["tmp"]), "PYTHONDONTWRITEBYTECODE": "1"}
        if not self.isolate:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.stripped.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
        config = {"isolate": self.isolate, "memory_bytes": self.memory_bytes,
                  "package": str(self.package), "stripped_package": str(self.stripped),
                  "masks": masks, "rebind": rebind,
                  "writable": [str(scratch), *self._run_dir()],
                  "cwd": str(dirs["cwd"]), "env": env}
        config_file = scratch / "jail.json"
        config_file.write_text(json.dumps(config, indent=1))
        spec = scratch / "jupyter" / "kernels" / KERNEL_NAME
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(json.dumps({
            # By path, not -m: importing the labkit package first would slow every start.
            "argv": [sys.executable, str(Path(jail.__file__)), str(config_file),
                     "-f", "{connection_file}"],
            "display_name": "labkit (graded)", "language": "python"}))
        return {"JUPYTER_PATH": str(scratch / "jupyter"),
                "JUPYTER_RUNTIME_DIR": str(dirs["run"]), **env}
