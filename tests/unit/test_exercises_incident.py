"""The capstone's checks: right answers pass, and plausible wrong ones fail, for any incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from labkit.config import LabConfig
from labkit.errors import QueryHTTPError
from labkit.exercises import evaluate
from labkit.incident import ALL, IncidentRecord
from labkit.incident.record import Truth
from labkit.query.jaeger import COLUMNS

T0 = 1_800_000_000.0
START, END = T0 + 25.0, T0 + 52.0


def record(category: str, model: str = ALL, user: str = ALL, seed: int = 7) -> IncidentRecord:
    return IncidentRecord.seal(seed=seed, truth=Truth(category, model, user, START, END),
                               t0=T0, t1=T0 + 72, requests=150, trace_ids=["ab" * 16])


def span(trace: str, sid: str, parent: str | None, op: str, at: float, ms: float,
         **attrs: object) -> tuple:
    return (trace, sid, parent, "llm-api", op, pd.Timestamp(at, unit="s", tz="UTC"), ms,
            "error" if attrs.get("http.response.status_code", 200) >= 500 else "unset", attrs)


def request(trace: str, at: float, *, model: str = "labkit-tiny", user: str = "user_1",
            status: int = 200, queue_ms: float = 0.0, tokenize_ms: float = 1.0,
            inference_ms: float = 200.0, tokens: int = 20, error: str | None = None) -> list:
    attrs = {"model": model, "user_id": user, "http.response.status_code": status,
             "queue_wait_ms": queue_ms}
    if error:
        attrs["error.type"] = error
    return [span(trace, trace[:8] + "00000001", None, "POST /v1/chat/completions", at, 500.0),
            span(trace, trace[:8] + "00000002", trace[:8] + "00000001", "chat_completion", at,
                 500.0, **attrs),
            span(trace, trace[:8] + "00000003", trace[:8] + "00000002", "tokenize", at,
                 tokenize_ms),
            span(trace, trace[:8] + "00000004", trace[:8] + "00000002", "inference", at,
                 inference_ms, **{"gen_ai.usage.output_tokens": tokens})]


@dataclass
class FakeJaeger:
    traces: dict[str, list] = field(default_factory=dict)

    def trace(self, trace_id: str) -> pd.DataFrame:
        if trace_id not in self.traces:
            raise QueryHTTPError("not found", url="http://jaeger/api/traces", status=404, body="")
        return pd.DataFrame(self.traces[trace_id], columns=COLUMNS)


@dataclass
class FakeLab:
    config: LabConfig
    jaeger: FakeJaeger = field(default_factory=FakeJaeger)


def lab_with(tmp_path: Path, rec: IncidentRecord) -> FakeLab:
    lab = FakeLab(LabConfig(run_dir=tmp_path))
    rec.save(lab.config)
    return lab


def ans(value: object, seed: int = 7) -> dict:
    return {"seed": seed, "answer": value}


def status(exercise: str, answer: object, lab: FakeLab) -> str:
    return evaluate(exercise, answer, lab).status


CATEGORY_WRONG = ["slow_upstream", "slot_exhaustion", "slow_tokenizer", "oversized_prompts",
                  "cost_spike", "ERROR BURST", "errors", 3]


def test_category_passes_only_the_injected_one(tmp_path: Path) -> None:
    """The recorded category passes; every other category and non-category fails."""
    lab = lab_with(tmp_path, record("error_burst", model="labkit-tiny-code"))
    assert status("incident.category", ans("error_burst"), lab) == "passed"
    for wrong in CATEGORY_WRONG:
        assert status("incident.category", ans(wrong), lab) == "failed", wrong


def test_answers_need_the_seed_and_its_record(tmp_path: Path) -> None:
    """An answer without its run, or for a seed never run here, fails saying what to do."""
    lab = lab_with(tmp_path, record("error_burst"))
    bare = evaluate("incident.category", "error_burst", lab)
    assert bare.status == "failed" and "incident.answer" in bare.detail
    other = evaluate("incident.category", ans("error_burst", seed=8), lab)
    assert other.status == "failed" and "seed 8" in other.detail
    assert status("incident.category", None, lab) == "not attempted"


@pytest.mark.parametrize("window", [
    {"start": 25.0, "end": 52.0}, {"start": 31.0, "end": 46.5},
    {"start": START + 3, "end": END - 2},  # unix times
    {"start": pd.Timestamp(START, unit="s", tz="UTC"),
     "end": pd.Timestamp(END, unit="s", tz="UTC")},
], ids=["offsets", "within-tolerance", "unix", "timestamps"])
def test_window_within_tolerance_passes(tmp_path: Path, window: dict) -> None:
    """Offsets after t0, unix times and timestamps all pass within 10 s."""
    lab = lab_with(tmp_path, record("slow_upstream", model="labkit-tiny"))
    assert status("incident.window", ans(window), lab) == "passed"


@pytest.mark.parametrize("window", [
    {"start": 0.0, "end": 72.0},            # the whole run
    {"start": 52.0, "end": 25.0},           # swapped
    {"start": 25.0, "end": 72.0},           # end of the run
    {"start": 0.0, "end": 52.0},            # start of the run
    {"start": 40.0, "end": 45.0},           # the middle only
    {"start": 10.0, "end": 30.0},           # too early
    {"start": "soon", "end": 52.0},         # not a time
    {"start": pd.Timestamp("2027-01-15 08:00:25"), "end": 52.0},  # no time zone
    25.0,                                   # not a window
], ids=["whole-run", "swapped", "run-end", "run-start", "middle", "early", "text", "naive",
        "number"])
def test_wrong_windows_fail(tmp_path: Path, window: object) -> None:
    """The run's own window, swapped or partial windows and bad values fail."""
    lab = lab_with(tmp_path, record("slow_upstream", model="labkit-tiny"))
    assert status("incident.window", ans(window), lab) == "failed"


def test_model_and_user_scope(tmp_path: Path) -> None:
    """One model and one user for a user's flood; other names, 'all' and unknown names fail."""
    lab = lab_with(tmp_path, record("oversized_prompts", model="labkit-tiny-chat", user="user_4"))
    assert status("incident.model", ans("labkit-tiny-chat"), lab) == "passed"
    assert status("incident.user", ans("user_4"), lab) == "passed"
    for wrong in ["labkit-tiny", "labkit-tiny-code", "all", "*", "gpt-4", 1]:
        assert status("incident.model", ans(wrong), lab) == "failed", wrong
    for wrong in ["user_1", "user_2", "user_5", "all", "user_99", "user_6"]:
        assert status("incident.user", ans(wrong), lab) == "failed", wrong


def test_all_is_the_answer_when_every_model_is_hit(tmp_path: Path) -> None:
    """Slot exhaustion hits every model and user: 'all' passes, any one name fails."""
    lab = lab_with(tmp_path, record("slot_exhaustion"))
    assert status("incident.model", ans("all"), lab) == "passed"
    assert status("incident.user", ans("All"), lab) == "passed"
    for wrong in ["labkit-tiny", "labkit-tiny-chat", "labkit-tiny-code", "nobody", 0]:
        assert status("incident.model", ans(wrong), lab) == "failed", wrong


def test_fix_passes_only_its_letter(tmp_path: Path) -> None:
    """The recorded fix letter passes (any case); the other letters and text fail."""
    lab = lab_with(tmp_path, record("cost_spike", model="labkit-tiny", user="user_2"))
    assert status("incident.fix", ans("f"), lab) == "passed"
    for wrong in ["A", "B", "C", "D", "E", "G", "H", "Z", "quota"]:
        assert status("incident.fix", ans(wrong), lab) == "failed", wrong


TRACES = {
    "error": "a" * 32, "ok_in_window": "b" * 32, "before": "c" * 32, "other_model": "d" * 32,
    "slow_inference": "e" * 32, "slow_tokenize": "f" * 32, "queued": "1" * 32,
    "oversized": "2" * 32, "oversized_other_user": "3" * 32, "big": "4" * 32,
}


def jaeger_fixture() -> FakeJaeger:
    mid = START + 10
    return FakeJaeger({
        TRACES["error"]: request(TRACES["error"], mid, model="labkit-tiny-code", status=502),
        TRACES["ok_in_window"]: request(TRACES["ok_in_window"], mid, model="labkit-tiny-code"),
        TRACES["before"]: request(TRACES["before"], T0 + 5, model="labkit-tiny-code",
                                  status=502),
        TRACES["other_model"]: request(TRACES["other_model"], mid, model="labkit-tiny",
                                       status=502),
        TRACES["slow_inference"]: request(TRACES["slow_inference"], mid,
                                          model="labkit-tiny-code", inference_ms=1900),
        TRACES["slow_tokenize"]: request(TRACES["slow_tokenize"], mid, tokenize_ms=1850),
        TRACES["queued"]: request(TRACES["queued"], mid, queue_ms=4000),
        TRACES["oversized"]: request(TRACES["oversized"], mid, user="user_3", status=400,
                                     error="context_length_exceeded"),
        TRACES["oversized_other_user"]: request(TRACES["oversized_other_user"], mid,
                                                user="user_1", status=400,
                                                error="context_length_exceeded"),
        TRACES["big"]: request(TRACES["big"], mid, user="user_3", tokens=200),
    })


@pytest.mark.parametrize(("category", "model", "user", "good"), [
    ("error_burst", "labkit-tiny-code", ALL, "error"),
    ("slow_upstream", "labkit-tiny-code", ALL, "slow_inference"),
    ("slot_exhaustion", ALL, ALL, "queued"),
    ("slow_tokenizer", ALL, ALL, "slow_tokenize"),
    ("oversized_prompts", "labkit-tiny", "user_3", "oversized"),
    ("cost_spike", "labkit-tiny", "user_3", "big"),
])
def test_trace_must_exist_be_in_the_window_and_show_the_symptom(
        tmp_path: Path, category: str, model: str, user: str, good: str) -> None:
    """Only a trace of the incident passes; others (absent, before, healthy, wrong) fail."""
    lab = lab_with(tmp_path, record(category, model=model, user=user))
    lab.jaeger = jaeger_fixture()
    assert status("incident.trace", ans(TRACES[good]), lab) == "passed"
    wrong = [t for name, t in TRACES.items() if name != good
             and not (category == "slot_exhaustion" and name == "slow_inference")]
    wrong += ["9" * 32, "not-a-trace", TRACES[good][:16]]
    for trace_id in wrong:
        verdict = evaluate("incident.trace", ans(trace_id), lab)
        assert verdict.status == "failed", (trace_id, verdict.detail)
