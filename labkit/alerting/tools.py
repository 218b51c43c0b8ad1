"""Run promtool and amtool: check rules, unit-test rules, check and route Alertmanager configs.

>>> result = test_rules([Path("tests/alerts_test.yml")])   # doctest: +SKIP
>>> result.ok                                             # doctest: +SKIP
True
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import BinaryNotFound, LabError

__all__ = ["ToolResult", "check_alertmanager_config", "check_rules", "route", "test_rules"]



@dataclass(frozen=True)
class ToolResult:
    """What a promtool/amtool run said: ``ok`` is its exit status being 0."""

    command: tuple[str, ...]
    returncode: int
    output: str  # stdout then stderr
    stdout: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def raise_for_failure(self) -> ToolResult:
        """Raise LabError with the tool's output when it failed; return self otherwise."""
        if not self.ok:
            command = " ".join(self.command)
            raise LabError(f"{command} failed (exit {self.returncode}):\n{self.output}")
        return self

    def __repr__(self) -> str:
        verdict = "ok" if self.ok else f"FAILED (exit {self.returncode})"
        return f"{self.command[0]} {self.command[1]} {self.command[2]}: {verdict}\n{self.output}"

    def _repr_html_(self) -> str:
        from html import escape

        colour = "#2e7d32" if self.ok else "#c62828"
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 8px">'
            f"<b>{escape(' '.join(self.command[:3]))}</b>: {'ok' if self.ok else 'FAILED'}"
            f"<pre>{escape(self.output)}</pre></div>"
        )


def _binary(name: str) -> str:
    """The tool labkit provisions (PATH, its pinned build, Debian's last), or a clear error."""
    from labkit.runtime.provision import find_binary

    path = find_binary(name)
    if path is None:
        raise BinaryNotFound(f"{name} is not installed: run `labkit install` (it downloads or "
                             f"builds the pinned release), or put {name} on PATH", service=name)
    return str(path)


def _run(name: str, args: Sequence[str], timeout: float = 120,
         binary: Path | str | None = None) -> ToolResult:
    command = (str(binary) if binary else _binary(name), *args)
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = (proc.stdout + proc.stderr).strip()
    return ToolResult(
        command=(name, *args), returncode=proc.returncode, output=output, stdout=proc.stdout
    )


def _files(paths: Sequence[Path | str]) -> list[str]:
    if not paths:
        raise LabError("no files given: pass the rendered rule or test files")
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise LabError(f"no such file: {', '.join(missing)}; render them first")
    return [str(p) for p in paths]


def check_rules(paths: Sequence[Path | str], promtool: Path | str | None = None) -> ToolResult:
    """``promtool check rules``: syntax, PromQL and templates of rule files.

    ``promtool`` picks another executable than the provisioned one (e.g. Debian's).
    """
    return _run("promtool", ["check", "rules", *_files(paths)], binary=promtool)


def test_rules(paths: Sequence[Path | str], promtool: Path | str | None = None) -> ToolResult:
    """``promtool test rules``: run rule unit-test files (``promtool`` as in check_rules)."""
    return _run("promtool", ["test", "rules", *_files(paths)], binary=promtool)


# pytest would collect test_rules as a test when a test module imports it by name.
test_rules.__test__ = False  # type: ignore[attr-defined]


def check_alertmanager_config(path: Path | str) -> ToolResult:
    """``amtool check-config``: an Alertmanager configuration file."""
    return _run("amtool", ["check-config", *_files([path])])


def route(config: Path | str, labels: Mapping[str, str]) -> list[str]:
    """The receivers an alert with ``labels`` reaches, in routing-tree order (``amtool``)."""
    args = [f"{k}={v}" for k, v in labels.items()]
    result = _run(
        "amtool", ["config", "routes", "test", f"--config.file={_files([config])[0]}", *args]
    ).raise_for_failure()
    # amtool prints the receivers comma-separated on stdout (warnings go to stderr).
    return [name.strip() for name in result.stdout.strip().split(",") if name.strip()]
