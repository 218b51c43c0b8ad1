"""The arrival schedule: Poisson offsets, prompts and users, all fixed up-front by a seed.

Computing the whole schedule before the first request is what makes the generator
open-loop: when a request is sent never depends on how fast earlier ones finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_PROMPTS", "DEFAULT_USERS", "Arrival", "build_schedule", "user_weights"]

DEFAULT_PROMPTS: tuple[str, ...] = (
    "Say hello in one short sentence.",
    "List three primary colors.",
    "What is 17 times 3?",
    "Write a haiku about monitoring dashboards.",
    "Explain what a histogram is in two sentences.",
    "Give me a name for a friendly robot.",
    "Translate 'good morning' into French.",
    "Summarize the plot of Hamlet in one line.",
    "What does HTTP status 503 mean?",
    "Suggest a title for a blog post about latency.",
    "Name four planets of the solar system.",
    "Write a limerick about a slow server.",
)

# Eight users whose traffic follows a Zipf-like skew, so "top users" queries have a clear answer.
DEFAULT_USERS: tuple[str, ...] = tuple(f"user_{i}" for i in range(1, 9))


@dataclass(frozen=True)
class Arrival:
    """One planned request: when (seconds after the run starts), what and from whom."""

    index: int
    offset_s: float
    prompt: str
    user: str


def user_weights(users: Sequence[str] | Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    """Names and probabilities: a mapping gives weights, a sequence gets a 1/k skew."""
    if isinstance(users, Mapping):
        names = list(users)
        weights = np.array([float(users[n]) for n in names])
    else:
        names = list(users)
        weights = 1.0 / np.arange(1, len(names) + 1) ** 1.1
    if not names or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("users must name at least one user, with non-negative weights")
    return names, weights / weights.sum()


def build_schedule(
    *, rate: float, duration: float, seed: int = 0,
    prompts: Sequence[str] | None = None,
    users: Sequence[str] | Mapping[str, float] | None = None,
) -> list[Arrival]:
    """Arrivals of a Poisson process at ``rate`` req/s over ``duration`` seconds.

    The same arguments always give the same schedule.

    >>> [round(a.offset_s, 3) for a in build_schedule(rate=2, duration=2, seed=1)]
    [0.537, 0.691]
    """
    if not rate > 0:
        raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
    if not duration > 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    prompt_list = list(DEFAULT_PROMPTS if prompts is None else prompts)
    if not prompt_list or not all(isinstance(p, str) and p for p in prompt_list):
        raise ValueError("prompts must be a non-empty list of non-empty strings")
    names, probs = user_weights(DEFAULT_USERS if users is None else users)
    rng = np.random.default_rng(seed)
    offsets: list[float] = []
    t = rng.exponential(1.0 / rate)
    while t < duration:
        offsets.append(float(t))
        t += rng.exponential(1.0 / rate)
    # Drawn after the offsets from the same generator: one seed fixes everything.
    prompt_idx = rng.integers(0, len(prompt_list), size=len(offsets))
    user_idx = rng.choice(len(names), size=len(offsets), p=probs)
    return [
        Arrival(i, off, prompt_list[int(p)], names[int(u)])
        for i, (off, p, u) in enumerate(zip(offsets, prompt_idx, user_idx, strict=True))
    ]
