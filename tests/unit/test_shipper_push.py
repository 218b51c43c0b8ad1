"""Loki's answers decide between done, retry and drop; the shipper batches and commits."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from labkit.shipper import Shipper
from labkit.shipper.positions import load_positions
from labkit.shipper.push import LokiPusher, backoff_delay, push_url
from labkit.testing import poll_until

PAYLOAD = {"streams": [{"stream": {"job": "llm-api", "level": "INFO"}, "values": [["1", "x"]]}]}


@pytest.mark.parametrize(
    ("given", "expected"),
    [("http://127.0.0.1:3100", "http://127.0.0.1:3100/loki/api/v1/push"),
     ("http://loki:3100/", "http://loki:3100/loki/api/v1/push"),
     ("https://loki.example/loki/api/v1/push", "https://loki.example/loki/api/v1/push")],
    ids=["base", "trailing-slash", "full-push-url"],
)
def test_push_url(given: str, expected: str) -> None:
    """A base URL gets the push path; a push URL is kept."""
    assert push_url(given) == expected


@pytest.mark.parametrize("bad", ["127.0.0.1:3100", "ftp://x", "http://x/api/other"],
                         ids=["no-scheme", "ftp", "other-path"])
def test_push_url_refuses_what_it_cannot_use(bad: str) -> None:
    """A URL that is not a Loki base URL is refused with an example of a good one."""
    with pytest.raises(ValueError, match=re.escape("http://127.0.0.1:3100")):
        push_url(bad)


@pytest.mark.parametrize(
    ("status", "body", "accepted", "retry", "stale"),
    [
        (204, "", True, False, False),
        (200, "", True, False, False),
        (500, "internal", False, True, False),
        (503, "ingester not ready", False, True, False),
        (429, "rate limited", False, True, False),
        (400, "error parsing labels", False, False, False),
        (400, "entry with timestamp 2026-01-01 ignored, reason: 'entry too far behind'",
         False, False, True),
        (400, "entry out of order for stream", False, False, True),
        (413, "too large", False, False, False),
    ],
    ids=["204", "200", "500", "503", "429", "400", "400-too-far-behind", "400-out-of-order",
         "413"],
)
def test_push_classifies_answers(status: int, body: str, accepted: bool, retry: bool,
                                 stale: bool) -> None:
    """Success, retryable and final refusals are told apart from the status and body."""
    transport = httpx.MockTransport(lambda req: httpx.Response(status, text=body))
    result = LokiPusher("http://loki:3100", transport=transport).push(PAYLOAD)
    assert (result.accepted, result.retry, result.stale) == (accepted, retry, stale)


def test_push_without_an_answer_is_retried() -> None:
    """A connection error is retryable and its message says what happened."""
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)
    result = LokiPusher("http://loki:3100", transport=httpx.MockTransport(refuse)).push(PAYLOAD)
    assert result.retry and result.status is None and "connection refused" in result.message


def test_push_sends_the_json_body_and_retry_after() -> None:
    """The body is Loki's JSON push shape; Retry-After is read from a 429."""
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(429, headers={"Retry-After": "7"})
    result = LokiPusher("http://loki:3100", transport=httpx.MockTransport(handler)).push(PAYLOAD)
    assert seen == [PAYLOAD]
    assert result.retry_after == 7.0


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [(0, 0.0, 0.25), (0, 1.0, 0.5), (3, 1.0, 4.0), (3, 0.0, 2.0), (10, 1.0, 30.0),
     (10, 0.0, 15.0), (500, 0.5, 22.5)],
    ids=["first-low", "first-high", "fourth-high", "fourth-low", "capped-high", "capped-low",
         "huge-attempt"],
)
def test_backoff_doubles_with_jitter_and_cap(attempt: int, rand: float, expected: float) -> None:
    """Delays double per attempt, stay within [half, all] of the ceiling and never pass the cap."""
    assert backoff_delay(attempt, base=0.5, cap=30.0, rand=rand) == pytest.approx(expected)


class Recorder:
    """An httpx transport handler that stores pushed lines and can fail on demand."""

    def __init__(self, answers: list[int] | None = None, body: str = "refused") -> None:
        self.body = body
        self.answers = list(answers or [])
        self.batches: list[list[str]] = []
        self.calls = 0
        self.got = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        status = self.answers.pop(0) if self.answers else 204
        if status == 204:
            body = json.loads(request.content)
            self.batches.append([v[1] for s in body["streams"] for v in s["values"]])
            self.got.set()
        return httpx.Response(status, text=self.body if status != 204 else "")


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until condition() holds; fail the test if it never does."""
    poll_until("the condition", condition, bool, timeout, 0.01)


def ship(tmp_path: Path, recorder: Recorder, lines: list[str], **kw: object) -> Shipper:
    log = tmp_path / "gateway.log"
    log.write_text("".join(f"{ln}\n" for ln in lines))
    shipper = Shipper(f"{log}*", "http://loki:3100", positions=tmp_path / "pos.json",
                      transport=httpx.MockTransport(recorder), poll_interval=0.01,
                      min_backoff=0.01, max_backoff=0.02, **kw)  # type: ignore[arg-type]
    return shipper


def test_batches_hold_at_most_batch_size_lines(tmp_path: Path) -> None:
    """Seven lines with batch_size 3 go out as 3, 3 and 1, in file order."""
    rec = Recorder()
    lines = [f"line {i}" for i in range(7)]
    with ship(tmp_path, rec, lines, batch_size=3, batch_wait=0.0):
        pass  # stop() flushes everything already written
    assert rec.batches == [lines[0:3], lines[3:6], lines[6:7]]


def test_final_refusal_is_dropped_and_logged_and_later_lines_flow(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A 400 drops that batch with a message, advances positions and does not block."""
    rec = Recorder(answers=[400])
    caplog.set_level(logging.INFO, logger="labkit.shipper")
    with ship(tmp_path, rec, ["bad"], batch_wait=0.0) as shipper:
        wait_for(lambda: rec.calls >= 1)
        with (tmp_path / "gateway.log").open("a") as fh:
            fh.write("good\n")
    assert rec.batches[-1] == ["good"]
    assert shipper.dropped == 1
    assert "refused a batch of 1 lines with HTTP 400" in caplog.text
    assert sum(s.offset for s in load_positions(tmp_path / "pos.json").values()) == 9


def test_out_of_order_refusal_does_not_block_the_pipeline(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Loki's 'entry too far behind' is logged as partial, not counted dropped, and lines flow."""
    rec = Recorder(answers=[400], body="entry with timestamp 2020-01-01 ignored, reason: "
                   "'entry too far behind, oldest acceptable timestamp is: 2026-01-01'")
    caplog.set_level(logging.INFO, logger="labkit.shipper")
    with ship(tmp_path, rec, ["old"], batch_wait=0.0) as shipper:
        wait_for(lambda: rec.calls >= 1)
        with (tmp_path / "gateway.log").open("a") as fh:
            fh.write("new\n")
    assert rec.batches == [["new"]]
    assert shipper.dropped == 0
    assert "stored the rest; moving on" in caplog.text


def test_retries_until_accepted_without_losing_the_batch(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """503s are retried with a logged delay; the same lines are delivered once accepted."""
    rec = Recorder(answers=[503, 503, 429])
    caplog.set_level(logging.INFO, logger="labkit.shipper")
    with ship(tmp_path, rec, ["a", "b"], batch_wait=0.0):
        assert rec.got.wait(30)
    assert rec.batches == [["a", "b"]]
    assert rec.calls == 4
    assert caplog.text.count("retrying 2 lines in") == 3


def test_positions_do_not_advance_while_loki_refuses(tmp_path: Path) -> None:
    """If Loki never accepts, stopping leaves no positions saved, so a restart re-sends."""
    rec = Recorder(answers=[503] * 10_000)
    with ship(tmp_path, rec, ["a"], batch_wait=0.0):
        wait_for(lambda: rec.calls >= 3)
    assert not (tmp_path / "pos.json").exists()


def test_stop_is_safe_twice_and_start_twice_is_refused(tmp_path: Path) -> None:
    """stop() may be called again; a second start() says to make a new Shipper."""
    shipper = ship(tmp_path, Recorder(), ["a"]).start()
    shipper.stop()
    shipper.stop()
    assert not shipper.running
    with pytest.raises(RuntimeError, match="make a new one"):
        shipper.start()


class PickyLoki:
    """A Loki that refuses lines containing 'bad': the whole push, or only those (partial)."""

    def __init__(self, partial: bool) -> None:
        self.partial = partial
        self.stored: list[str] = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        lines = [v[1] for s in json.loads(request.content)["streams"] for v in s["values"]]
        bad = [ln for ln in lines if "bad" in ln]
        if not bad or self.partial:
            self.stored += [ln for ln in lines if "bad" not in ln and ln not in self.stored]
        if not bad:
            return httpx.Response(204)
        reasons = "".join("entry with timestamp 0 ignored, reason: 'line too long' for "
                          "stream: {job=\"llm-api\"},\n" for _ in bad)
        if self.partial:
            return httpx.Response(400, text=f"{reasons}total ignored: {len(bad)} out of "
                                            f"{len(lines)}")
        return httpx.Response(400, text="line too long for stream {job=\"llm-api\"}")


LINES = ["a", "b", "bad 1", "c", "d", "e", "bad 2", "f"]


def test_whole_batch_refusal_is_split_until_only_bad_lines_are_dropped(tmp_path: Path) -> None:
    """A Loki that refuses a whole push for one bad line still gets every good line."""
    loki = PickyLoki(partial=False)
    with ship(tmp_path, loki, LINES, batch_wait=0.0, batch_size=100) as shipper:  # type: ignore[arg-type]
        wait_for(lambda: shipper.shipped + shipper.dropped == len(LINES))
    assert sorted(loki.stored) == ["a", "b", "c", "d", "e", "f"]
    assert (shipper.shipped, shipper.dropped) == (6, 2)


def test_partial_refusal_keeps_the_rest_without_resending(tmp_path: Path) -> None:
    """Loki's 'total ignored: K out of N' means it stored the rest: counted, not re-sent."""
    loki = PickyLoki(partial=True)
    with ship(tmp_path, loki, LINES, batch_wait=0.0, batch_size=100) as shipper:  # type: ignore[arg-type]
        wait_for(lambda: shipper.shipped + shipper.dropped == len(LINES))
    assert loki.calls == 1
    assert sorted(loki.stored) == ["a", "b", "c", "d", "e", "f"]
    assert (shipper.shipped, shipper.dropped) == (6, 2)


def test_disk_errors_are_retried_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """A full disk while saving positions is logged and retried; the shipper keeps running."""
    import labkit.shipper.shipper as module

    real = module.save_positions
    failures = [OSError(28, "No space left on device")] * 3

    def flaky(path: Path, states: dict) -> None:  # type: ignore[type-arg]
        if failures:
            raise failures.pop()
        real(path, states)

    monkeypatch.setattr(module, "save_positions", flaky)
    caplog.set_level(logging.INFO, logger="labkit.shipper")
    rec = Recorder()
    with ship(tmp_path, rec, ["a"], batch_wait=0.0) as shipper:
        wait_for(lambda: (tmp_path / "pos.json").exists())
        assert shipper.running and shipper.error is None
    assert caplog.text.count("No space left on device") == 3
    assert sum(s.offset for s in load_positions(tmp_path / "pos.json").values()) == 2
