"""The incident record: the learner's kernel can read it, so it answers yes/no questions only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.config import LabConfig
from labkit.incident import CATEGORIES, MODELS, USERS, load_record
from labkit.incident.catalogue import FIX_DIGESTS, FIXES, fix_digest
from labkit.incident.record import IncidentRecord, Truth

T0 = 1_800_000_000.0
TRUTH = Truth("oversized_prompts", "labkit-tiny-chat", "user_4", T0 + 24.6, T0 + 51.2)


def sealed(tmp_path: Path) -> tuple[IncidentRecord, str]:
    rec = IncidentRecord.seal(seed=9, truth=TRUTH, t0=T0, t1=T0 + 70, requests=80,
                              trace_ids=["ab" * 16])
    path = rec.save(LabConfig(run_dir=tmp_path))
    return rec, path.read_text()


def test_the_saved_record_holds_no_answer_in_clear_text(tmp_path: Path) -> None:
    """No category, model, user, fix letter or window time appears in the file."""
    _, text = sealed(tmp_path)
    for clear in [*CATEGORIES, *MODELS, *USERS]:
        assert clear not in text, clear
    values = json.loads(text)
    strings = {v for v in values.values() if isinstance(v, str)}
    assert not set(FIXES) & strings
    numbers = {v for v in values.values() if isinstance(v, int | float)}
    assert numbers == {9, T0, T0 + 70, 80}  # the seed, the run's window, its size: no times


def test_the_record_answers_yes_or_no(tmp_path: Path) -> None:
    """is_/near/during say yes to the truth only, after a save and a load."""
    _, _ = sealed(tmp_path)
    rec = load_record(9, LabConfig(run_dir=tmp_path))
    assert rec.is_("category", "oversized_prompts")
    assert not any(rec.is_("category", c) for c in CATEGORIES if c != "oversized_prompts")
    assert rec.is_("model", "labkit-tiny-chat") and not rec.is_("model", "all")
    assert rec.is_("user", "user_4") and not rec.is_("user", "user_3")
    assert rec.near("start", 25.0, 10) and rec.near("start", 15.2, 10)
    assert not rec.near("start", 13.0, 10) and not rec.near("start", 37.0, 10)
    assert rec.near("end", 51.0, 0.5) and not rec.near("end", 49.0, 1)
    assert not rec.near("end", float("nan"), 10)
    assert rec.during(T0 + 30) and rec.during(T0 + 23.5) and rec.during(T0 + 52.5)
    assert not rec.during(T0 + 20) and not rec.during(T0 + 56) and not rec.during(T0)


def test_two_runs_of_one_seed_are_sealed_under_different_salts(tmp_path: Path) -> None:
    """A digest cannot be looked up from another run's record (each run draws its salt)."""
    a, _ = sealed(tmp_path)
    b, _ = sealed(tmp_path)
    assert a.salt != b.salt and a.sealed["category"] != b.sealed["category"]


def test_a_record_of_an_older_labkit_says_to_run_again(tmp_path: Path) -> None:
    """A record with the old clear fields is refused with the command that replaces it."""
    folder = tmp_path / "incidents"
    folder.mkdir()
    (folder / "seed-3.json").write_text(json.dumps({"seed": 3, "category": "error_burst"}))
    with pytest.raises(FileNotFoundError, match="labkit incident start --seed 3"):
        load_record(3, LabConfig(run_dir=tmp_path))


def test_fix_digests_follow_the_instructors_table() -> None:
    """FIX_DIGESTS says yes to each category's fix in fixes.json, and to no other letter."""
    table = json.loads((Path(__file__).resolve().parents[2] / "labkit" / "incident"
                        / "fixes.json").read_text())
    assert set(CATEGORIES) <= set(table)
    for category in CATEGORIES:
        right = table[category]
        assert right in FIXES
        assert fix_digest(category, right) in FIX_DIGESTS
        assert not any(fix_digest(category, x) in FIX_DIGESTS for x in FIXES if x != right)
    assert len(FIX_DIGESTS) == len(CATEGORIES)
