"""labkit's error tree is documented, every class in it is raised, and the CLI reports each
one on a line of its own instead of a traceback."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import labkit.errors as errors
from labkit import cli
from labkit.errors import ConfigError, LabError

PACKAGE = Path(errors.__file__).parent
CLASSES = [getattr(errors, name) for name in errors.__all__]


def _referenced_names() -> set[str]:
    """Names labkit's code uses outside errors.py, other than to catch or import them."""
    used: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "errors.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        caught = {id(n) for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.type
                  for n in ast.walk(h.type)}
        used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in caught}
    return used


def test_every_error_class_is_raised_somewhere() -> None:
    """Each class (or one below it) is raised or built by labkit: no dead branches in the tree."""
    used = _referenced_names()
    unused = [cls.__name__ for cls in CLASSES
              if not any(sub.__name__ in used for sub in [cls, *_subclasses(cls)])]
    assert unused == []


def _subclasses(cls: type) -> list[type]:
    return [sub for sub in CLASSES if sub is not cls and issubclass(sub, cls)]


def test_the_docstring_draws_every_class() -> None:
    """The tree in errors.py's docstring names each class it defines, and only those."""
    drawn = {line.split("──", 1)[1].split()[0]
             for line in (errors.__doc__ or "").splitlines() if "──" in line}
    assert {cls.__name__ for cls in CLASSES} - {"LabError"} <= drawn
    assert drawn - {cls.__name__ for cls in CLASSES} == {"PriceTableError"}


def _instances() -> list[LabError]:
    made: list[LabError] = []
    for cls in CLASSES:
        if cls is ConfigError:
            made.append(ConfigError("LABKIT_SLOTS", "x", "is not an integer"))
        else:
            made.append(cls("something went wrong; do this instead"))
    return made


@pytest.mark.parametrize("error", _instances(), ids=[c.__name__ for c in CLASSES])
def test_the_cli_prints_any_lab_error_on_one_line(
        error: LabError, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever LabError a command raises, the user sees one line and status 2, no traceback."""
    def fail(_: object) -> int:
        raise error

    monkeypatch.setattr(cli, "cmd_status", fail)
    assert cli.main(["status"]) == 2
    out = capsys.readouterr()
    assert out.err == f"labkit status: error: {error}\n"
    assert "Traceback" not in out.err and out.out == ""


def test_details_follow_the_error_line_indented(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A tool's output carried in the message is shown under the error, indented."""
    def fail(_: object) -> int:
        raise LabError("promtool test rules failed (exit 1):\n  FAILED: alerts_test.yml\nbye")

    monkeypatch.setattr(cli, "cmd_status", fail)
    assert cli.main(["status"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "labkit status: error: promtool test rules failed (exit 1):",
        "      FAILED: alerts_test.yml",
        "    bye",
    ]


@pytest.mark.parametrize("argv", [["status"], ["up"], ["down"], ["logs", "gateway"]],
                         ids=["status", "up", "down", "logs"])
def test_a_bad_setting_stops_a_command_with_one_line(
        argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A bad LABKIT_* value ends any command with one line naming the variable."""
    monkeypatch.setenv("LABKIT_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("LABKIT_SLOTS", "zero")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == (f"labkit {argv[0]}: error: LABKIT_SLOTS='zero' is not an integer; "
                   "unset it or give a whole number\n")


def test_a_bug_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception that is not labkit's (a bug) still propagates with its traceback."""
    def fail(_: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_status", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["status"])

