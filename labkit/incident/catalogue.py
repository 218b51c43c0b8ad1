"""The incidents the capstone can inject: what each is, how it shows, and its fix.

Every incident touches one model, or every model (``ALL``), and one user, or every user.
The learner answers with a category, the window, the model and user, a trace id that
shows the symptom, and the fix, chosen from :data:`FIXES`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALL", "CATEGORIES", "FIXES", "INCIDENTS", "MODELS", "USERS", "Incident"]

ALL = "all"  # the answer for "which model/user" when the incident is not specific to one

# The gateway's model names (see labkit.runtime.services) and the background users.
MODELS: tuple[str, ...] = ("labkit-tiny", "labkit-tiny-chat", "labkit-tiny-code")
USERS: tuple[str, ...] = tuple(f"user_{i}" for i in range(1, 7))

FIXES: dict[str, str] = {
    "A": "Fail the broken model's traffic over to a healthy backend (or roll it back), "
         "and page its owners",
    "B": "Scale the slow model server out (more replicas) or fail over; nothing is wrong "
         "with the requests",
    "C": "Free the stuck slots (cancel the runaway generations), then cap the queue and "
         "shed load with 429s",
    "D": "Count tokens locally (or cache the counts) instead of calling the slow /tokenize "
         "for every long prompt",
    "E": "Reject oversized prompts at the edge and rate-limit that user's requests",
    "F": "Put a per-user token budget (quota) on that user and alert on cost per user",
    "G": "Nothing: it is normal traffic, the dashboards are noisy",
    "H": "Restart Prometheus: the metrics are wrong",
}


@dataclass(frozen=True)
class Incident:
    """One kind of incident: its category, what it looks like, and the right fix."""

    category: str
    title: str
    per_model: bool  # True: one model is affected; False: every model
    per_user: bool  # True: one user causes it; False: every user sees it
    fix: str  # a key of FIXES
    symptom: str  # what a trace of it shows (the trace-id check verifies this)


INCIDENTS: dict[str, Incident] = {i.category: i for i in (
    Incident("error_burst", "Error burst on one model", per_model=True, per_user=False,
             fix="A", symptom="a failed request (5xx, error span) to the model"),
    Incident("slow_upstream", "Slow model server for one model", per_model=True,
             per_user=False, fix="B",
             symptom="a request to the model whose inference span takes over a second"),
    Incident("slot_exhaustion", "Slot exhaustion with a growing queue", per_model=False,
             per_user=False, fix="C",
             symptom="a request that waited over a second in the gateway's queue"),
    Incident("slow_tokenizer", "Slow tokenizer path for long prompts", per_model=False,
             per_user=False, fix="D",
             symptom="a request whose tokenize span takes over a second"),
    Incident("oversized_prompts", "A flood of oversized prompts from one user",
             per_model=True, per_user=True, fix="E",
             symptom="the user's request refused with context_length_exceeded"),
    Incident("cost_spike", "Cost spike from one user", per_model=True, per_user=True,
             fix="F", symptom="the user's request that generated 150 or more tokens"),
)}

CATEGORIES: tuple[str, ...] = tuple(INCIDENTS)
