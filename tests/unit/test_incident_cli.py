"""`labkit incident`: the record for instructors, and clear errors when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.cli import main
from labkit.config import LabConfig
from labkit.incident import IncidentRecord


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("LABKIT_GATEWAY_URL", "http://127.0.0.1:9")
    return tmp_path


def test_show_without_a_run_says_what_to_run(lab_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """No record for the seed: exit 1 and the command that makes one."""
    assert main(["incident", "show", "--seed", "4"]) == 1
    assert "labkit incident start --seed 4" in capsys.readouterr().err


def test_show_hides_the_answers_unless_revealed(lab_dir: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    """A learner's `show` gives the run's window; `--reveal` adds the answers for instructors."""
    IncidentRecord(seed=4, category="oversized_prompts", model="labkit-tiny", user="user_2",
                   fix="E", t0=100.0, t1=180.0, start=125.0, end=150.0, fault={},
                   requests=90, statuses={"200": 70, "400": 20}).save(LabConfig(run_dir=lab_dir))
    assert main(["incident", "show", "--seed", "4"]) == 0
    plain = capsys.readouterr().out
    assert "t0=100.000" in plain and "oversized" not in plain and "user_2" not in plain
    assert main(["incident", "show", "--seed", "4", "--reveal"]) == 0
    revealed = capsys.readouterr().out
    assert "oversized_prompts" in revealed and "user_2" in revealed
    assert "25.0 s to 50.0 s" in revealed


def test_start_needs_a_seed(lab_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """`start` without --seed is refused before any traffic is sent."""
    assert main(["incident", "start"]) == 2
    assert "--seed" in capsys.readouterr().err
