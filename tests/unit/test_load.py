"""The load generator against a small fake OpenAI-compatible server over real HTTP."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from labkit.load import COLUMNS, LoadResult, build_schedule, generate_load, main
from labkit.testing import free_port
from tests.unit.fake_gateway import FakeGateway


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_schedule_is_reproducible_from_the_seed() -> None:
    """The same seed gives the same offsets, prompts and users; another seed does not."""
    first = build_schedule(rate=20, duration=5, seed=7)
    assert first == build_schedule(rate=20, duration=5, seed=7)
    assert first != build_schedule(rate=20, duration=5, seed=8)
    assert all(0 < a.offset_s < 5 for a in first)


def test_default_users_are_skewed_so_top_users_exist() -> None:
    """user_1 sends more than any other user, so a 'top users' query has a clear answer."""
    counts = Counter(a.user for a in build_schedule(rate=50, duration=20, seed=0))
    assert counts.most_common(1)[0][0] == "user_1"
    assert len(counts) == 8


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rate": 0}, "rate must be a positive"),
    ({"duration": -1}, "duration must be a positive"),
    ({"prompts": []}, "prompts must be a non-empty list"),
    ({"users": {}}, "users must name at least one user"),
], ids=["rate", "duration", "prompts", "users"])
def test_bad_schedule_arguments_say_what_is_wrong(kwargs: dict[str, Any], message: str) -> None:
    """Bad arguments are refused before any request, with what was wrong."""
    args = {"rate": 1.0, "duration": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_schedule(**args)


def test_same_seed_sends_the_same_requests(fake_gateway: FakeGateway) -> None:
    """Two runs with one seed send the same prompts from the same users, in the same order."""
    runs = [generate_load(fake_gateway.url, rate=40, duration=0.3, seed=3, progress=False)
            for _ in range(2)]
    a, b = (r.frame for r in runs)
    assert len(a) == len(b) == len(build_schedule(rate=40, duration=0.3, seed=3)) > 0
    assert a["prompt"].tolist() == b["prompt"].tolist()
    assert a["user"].tolist() == b["user"].tolist()
    sent = [r["user"] for r in fake_gateway.received]
    assert sorted(sent) == sorted(a["user"].tolist() * 2)  # X-User-Id header carried the user


def test_streaming_records_ttft_before_e2e_and_usage(fake_gateway: FakeGateway) -> None:
    """Streaming gets TTFT from the first content chunk, ITL between chunks, usage at the end."""
    fake_gateway.tokens, fake_gateway.token_delay = 5, 0.01
    frame = generate_load(fake_gateway.url, rate=30, duration=0.2, seed=1, progress=False).frame
    assert len(frame) > 0
    assert list(frame.columns) == COLUMNS
    assert (frame["status"] == 200).all() and frame["error"].isna().all()
    assert (frame["ttft_s"] < frame["e2e_s"]).all()
    assert (frame["itl_s"] > 0).all()
    assert (frame["completion_tokens"] == 5).all() and (frame["prompt_tokens"] == 7).all()
    assert frame["request_id"].str.startswith("req-chatcmpl-").all()  # x-request-id wins
    body = fake_gateway.received[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "labkit-tiny" and body["max_tokens"] == 32


def test_non_streaming_ttft_equals_e2e(fake_gateway: FakeGateway) -> None:
    """Without streaming the first token arrives with the last: TTFT is e2e, ITL is NaN."""
    frame = generate_load(fake_gateway.url, rate=30, duration=0.2, seed=1, stream=False,
                          progress=False).frame
    assert len(frame) > 0
    assert (frame["ttft_s"] == frame["e2e_s"]).all()
    assert frame["itl_s"].isna().all()
    assert frame["request_id"].str.startswith("chatcmpl-").all()
    assert (frame["completion_tokens"] == 4).all()


def test_queue_wait_counts_in_latency_when_server_is_slower_than_arrivals(
    fake_gateway: FakeGateway,
) -> None:
    """Open loop: with one slot and a slow server, later requests wait and the wait counts."""
    fake_gateway.delay = 0.05
    frame = generate_load(fake_gateway.url, rate=100, duration=0.2, concurrency=1, seed=2,
                          stream=False, progress=False).frame
    n = len(frame)
    assert n >= 5
    scheduled = (frame["scheduled_at"] - frame["scheduled_at"].min()).dt.total_seconds()
    # One slot, 0.05 s each: the last request cannot start before (n-1)*0.05 s after the
    # first one did, however early it was scheduled.
    last = frame.iloc[-1]
    first_start = frame["start"].min()
    assert (last["start"] - first_start).total_seconds() >= (n - 1) * fake_gateway.delay
    assert last["queued_s"] > frame.iloc[0]["queued_s"]
    assert (frame["e2e_s"] >= frame["queued_s"] + fake_gateway.delay).all()
    assert scheduled.is_monotonic_increasing


def test_http_errors_are_recorded_not_raised(fake_gateway: FakeGateway) -> None:
    """A 500 from the server is a row with status 500 and the server's message."""
    fake_gateway.status = 500
    result = generate_load(fake_gateway.url, rate=30, duration=0.2, seed=1, progress=False)
    frame = result.frame
    assert len(frame) > 0 and (frame["status"] == 500).all()
    assert (frame["error"] == "model exploded").all()
    summary = result.summary()
    assert summary["ok"] == 0 and summary["errors"] == len(frame) and summary["error_ratio"] == 1
    assert math.isnan(summary["e2e_p99_s"])


def test_connection_refused_is_status_zero() -> None:
    """Nothing listening gives status 0 and a connection error message per request."""
    frame = generate_load(closed_port_url(), rate=30, duration=0.2, seed=1,
                          progress=False).frame
    assert len(frame) > 0 and (frame["status"] == 0).all()
    assert frame["error"].str.contains("ConnectError").all()


def test_works_inside_a_running_event_loop(fake_gateway: FakeGateway) -> None:
    """In Jupyter a loop is already running: the sync function still works there."""
    async def notebook_cell() -> LoadResult:
        return generate_load(fake_gateway.url, rate=30, duration=0.2, seed=1, progress=False)

    result = asyncio.run(notebook_cell())
    assert len(result.frame) > 0 and (result.frame["status"] == 200).all()


def test_summary_and_reprs_show_percentiles(fake_gateway: FakeGateway) -> None:
    """The summary has rates and percentiles; repr and HTML show them."""
    result = generate_load(fake_gateway.url, rate=30, duration=0.3, seed=4, progress=False)
    s = result.summary()
    assert s["requests"] == len(result.frame) == s["ok"]
    assert s["ttft_p50_s"] <= s["ttft_p99_s"] <= s["e2e_p99_s"] + 1e-9
    assert s["tokens_per_s"] > 0 and s["achieved_rate"] > 0
    assert "requests" in repr(result) and "p99" in repr(result)
    assert "<table" in result._repr_html_()


def test_bad_url_is_refused() -> None:
    """A URL without a scheme is refused with an example of a good one."""
    with pytest.raises(ValueError, match=r"http://127\.0\.0\.1:8000"):
        generate_load("127.0.0.1:8000", duration=0.1, progress=False)


def test_cli_prints_summary_and_writes_csv(
    fake_gateway: FakeGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`labkit load` prints the summary table and writes one CSV row per request."""
    out = tmp_path / "load.csv"
    code = main(["--url", fake_gateway.url, "--rate", "30", "--duration", "0.2", "--no-stream",
                 "--quiet", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "req/s achieved" in printed and "e2e_s" in printed
    saved = pd.read_csv(out)
    assert len(saved) > 0 and (saved["status"] == 200).all()
    assert {r["body"]["stream"] for r in fake_gateway.received} == {False}


def test_cli_exits_nonzero_when_nothing_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    """With the server down the CLI says why and exits 1."""
    code = main(["--url", closed_port_url(), "--rate", "20", "--duration", "0.2", "--quiet"])
    assert code == 1
    assert "ConnectError" in capsys.readouterr().out
