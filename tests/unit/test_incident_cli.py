"""`labkit incident`: the record for instructors, and clear errors when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.cli import main
from labkit.config import LabConfig
from labkit.incident import IncidentRecord, plan_incident
from labkit.incident.record import Truth


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
    plan = plan_incident(4)
    truth = Truth(plan.category, plan.model, plan.user, 125.0, 150.0)
    IncidentRecord.seal(seed=4, truth=truth, t0=100.0, t1=180.0, requests=90,
                        trace_ids=[]).save(LabConfig(run_dir=lab_dir))
    assert main(["incident", "show", "--seed", "4"]) == 0
    plain = capsys.readouterr().out
    assert "t0=100.000" in plain and "oversized" not in plain and plan.user not in plain
    assert main(["incident", "show", "--seed", "4", "--reveal"]) == 0
    revealed = capsys.readouterr().out
    assert "oversized_prompts" in revealed and plan.user in revealed
    assert "25 s to 50 s" in revealed and "fix E" in revealed


def test_start_needs_a_seed(lab_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """`start` without --seed is refused before any traffic is sent."""
    assert main(["incident", "start"]) == 2
    assert "--seed" in capsys.readouterr().err
