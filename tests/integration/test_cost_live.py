"""Requests through the live gateway land in its usage database and in the cost report."""

from __future__ import annotations

import time
import uuid

import pytest

from labkit.cost import CostTracker, PriceTable, usage_db_url
from labkit.lab import Lab
from labkit.testing import poll_until

pytestmark = pytest.mark.integration


def _wait_for_user(tracker: CostTracker, user: str, requests: int, since: float,
                   timeout: float = 15.0) -> dict[str, float]:
    """The gateway writes usage rows on a background thread: poll until they are all there."""
    frame = poll_until(f"{requests} usage rows for {user}",
                       lambda: tracker.costs("user_id", since=since),
                       lambda f: user in f.index and f.loc[user, "requests"] >= requests,
                       timeout, 0.25)
    return frame.loc[user].to_dict()


def test_cost_report_counts_gateway_requests(lab_stack: Lab) -> None:
    """Four completions and one refused request by a fresh user are priced from the live DB."""
    import openai

    since = time.time() - 1
    user = f"cost-test-{uuid.uuid4().hex[:8]}"
    client = lab_stack.openai()
    headers = {"X-User-Id": user}
    prompt = tokens = completion = 0
    for n in range(4):
        reply = client.chat.completions.create(
            model="labkit-tiny", messages=[{"role": "user", "content": f"count to {n}"}],
            max_tokens=8, extra_headers=headers)
        assert reply.usage is not None
        prompt += reply.usage.prompt_tokens
        completion += reply.usage.completion_tokens
        tokens += reply.usage.total_tokens
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.chat.completions.create(  # refused before generation: a row with no tokens
            model="labkit-tiny", messages=[{"role": "user", "content": "x"}],
            max_tokens=1_000_000, extra_headers=headers)

    prices = PriceTable.default()
    tracker = CostTracker(usage_db_url(lab_stack.config), prices=prices)
    row = _wait_for_user(tracker, user, 5, since)
    assert (row["requests"], row["errors"]) == (5, 1)
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == \
        (prompt, completion, tokens)
    expected = prices.usage_cost("labkit-tiny", prompt_tokens=prompt, completion_tokens=completion)
    assert row["usage_cost"] == pytest.approx(expected)

    report = tracker.daily_report()
    assert report.frame.loc["labkit-tiny", "requests"] >= 5
    assert report.infrastructure_cost == pytest.approx(24 * prices.instances["cpu-lab"])
    assert tracker.usage_cost_per_1k_tokens("labkit-tiny") > 0
