"""The incidents the capstone can inject: what each is, how it shows, and its fix.

Every incident touches one model, or every model (``ALL``), and one user, or every user.
The learner answers with a category, the window, the model and user, a trace id that
shows the symptom, and the fix, chosen from :data:`FIXES`. Which fix is right for which
category is instructors' data (``fixes.json`` beside this file, hidden from graded kernels
and not installed with the package); the check knows only :data:`FIX_DIGESTS`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["ALL", "CATEGORIES", "FIXES", "FIX_DIGESTS", "INCIDENTS", "MODELS", "USERS", "Incident",
           "fix_digest"]

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
    """One kind of incident: its category and what it looks like."""

    category: str
    title: str
    per_model: bool  # True: one model is affected; False: every model
    per_user: bool  # True: one user causes it; False: every user sees it
    symptom: str  # what a trace of it shows (the trace-id check verifies this)


INCIDENTS: dict[str, Incident] = {i.category: i for i in (
    Incident("error_burst", "Error burst on one model", per_model=True, per_user=False,
             symptom="a failed request (5xx, error span) to the model"),
    Incident("slow_upstream", "Slow model server for one model", per_model=True,
             per_user=False,
             symptom="a request to the model whose inference span takes over a second"),
    Incident("slot_exhaustion", "Slot exhaustion with a growing queue", per_model=False,
             per_user=False,
             symptom="a request that waited over a second in the gateway's queue"),
    Incident("slow_tokenizer", "Slow tokenizer path for long prompts", per_model=False,
             per_user=False,
             symptom="a request whose tokenize span takes over a second"),
    Incident("oversized_prompts", "A flood of oversized prompts from one user",
             per_model=True, per_user=True,
             symptom="the user's request refused with context_length_exceeded"),
    Incident("cost_spike", "Cost spike from one user", per_model=True, per_user=True,
             symptom="the user's request that generated 150 or more tokens"),
)}

CATEGORIES: tuple[str, ...] = tuple(INCIDENTS)


def fix_digest(category: str, letter: str) -> str:
    """The digest that stands for "``letter`` is the fix of ``category``"."""
    return hashlib.sha256(f"labkit-incident-fix\x00{category}\x00{letter}".encode()).hexdigest()


# fix_digest(category, its fix) for every category (tests/unit keeps it in step with fixes.json).
FIX_DIGESTS: frozenset[str] = frozenset({
    "4702c6c4f01b3c54af4aad70903b90ea2d2294b0faea5f0d635d11d09738faa0",
    "e6dfa3ebc11d367e1ac314fa3560e158949d9c6eae79bd893752a00e97ae85e9",
    "ab6f1934d8947c1239f717827baaf3cedefd9b6a22329c45df0a2543ff4567df",
    "f710d74b0f838054d49100192b9ac0728fa22f139c1716c397618bd4c8885fed",
    "627ae15cf41a37e6c073899838fcd7dc31d6f04ea0aa53a46b23c7daeeba4f50",
    "5811e3197e65b58baad6553a7bd0b07e2ab9d00f70c47d20d08ec350fb2bba70",
})
