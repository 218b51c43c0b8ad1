"""The shipper against a real HTTP receiver: nothing lost, nothing repeated.

The receiver is a small Loki-compatible push endpoint in a thread: it stores
what it receives, dropping identical entries of a stream as Loki does, and can
be told to answer 503 or be shut down to play an unavailable Loki.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from labkit.shipper import Shipper
from labkit.testing import poll_until


class Receiver:
    """A Loki push endpoint on 127.0.0.1 that records every accepted entry."""

    def __init__(self, port: int = 0) -> None:
        self.status = 204  # what to answer; 503 plays an unhealthy Loki
        self.requests = 0
        self.raw: list[tuple[tuple[tuple[str, str], ...], str, str]] = []
        self._lock = threading.Lock()
        self._start(port)

    def _start(self, port: int) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests += 1
                    status = receiver.status
                    if self.path == "/loki/api/v1/push" and status == 204:
                        for s in json.loads(body)["streams"]:
                            labels = tuple(sorted(s["stream"].items()))
                            receiver.raw.extend((labels, ts, line) for ts, line in s["values"])
                self.send_response(status if self.path == "/loki/api/v1/push" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def down(self) -> None:
        """Stop listening (connections are refused)."""
        self.server.shutdown()
        self.server.server_close()

    def up(self) -> None:
        """Listen again on the same port."""
        self._start(self.port)

    def lines(self) -> list[str]:
        """Lines as Loki would store them: identical entries of a stream count once."""
        with self._lock:
            return [line for _, _, line in dict.fromkeys(self.raw)]

    def entries(self) -> list[tuple[dict[str, str], str, str]]:
        with self._lock:
            return [(dict(labels), ts, line) for labels, ts, line in self.raw]


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait until condition() holds; fail the test if it never does."""
    poll_until("the condition", condition, bool, timeout, 0.02)


def gateway_line(n: int, level: str = "INFO") -> str:
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"timestamp": ts, "level": level, "message": "Request completed",
                       "request_id": f"req-{n:05d}", "duration_ms": n % 97})


class Writer:
    """Writes gateway-like lines from a thread; pause() holds it for a rotation."""

    def __init__(self, emit: Callable[[str], None], count: int, every: float = 0.002) -> None:
        self.emit, self.count, self.every = emit, count, every
        self.written: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for n in range(self.count):
            line = gateway_line(n, "ERROR" if n % 10 == 0 else "INFO")
            with self.lock:
                self.emit(line)
                self.written.append(line)
            time.sleep(self.every)

    def join(self) -> list[str]:
        self.thread.join()
        return self.written


def appender(path: Path) -> Callable[[str], None]:
    def emit(line: str) -> None:
        with path.open("a", encoding="utf-8") as fh:  # O_APPEND, as logging handlers open
            fh.write(line + "\n")
    return emit


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.down()


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    return tmp_path


def shipper_for(run_dir: Path, receiver: Receiver) -> Shipper:
    return Shipper(f"{run_dir}/logs/gateway.log*", receiver.url,
                   positions=run_dir / "shipper" / "positions.json", labels={"job": "llm-api"},
                   batch_size=50, batch_wait=0.1, poll_interval=0.02, min_backoff=0.05,
                   max_backoff=0.2)


def test_lines_arrive_with_job_level_and_their_own_timestamp(run_dir: Path,
                                                             receiver: Receiver) -> None:
    """Every line written arrives once, labelled job and level, timed by its timestamp field."""
    log = run_dir / "logs" / "gateway.log"
    written = [gateway_line(1, "INFO"), gateway_line(2, "ERROR"), "plain text, not JSON"]
    for line in written:
        appender(log)(line)
    with shipper_for(run_dir, receiver):
        wait_for(lambda: len(receiver.raw) == 3)
    by_line = {line: (labels, ts) for labels, ts, line in receiver.entries()}
    assert len(receiver.raw) == 3 and set(by_line) == set(written)
    assert by_line[written[1]][0] == {"job": "llm-api", "level": "ERROR"}
    assert by_line[written[2]][0] == {"job": "llm-api", "level": "unknown"}
    ts = datetime.fromisoformat(json.loads(written[0])["timestamp"].replace("Z", "+00:00"))
    assert int(by_line[written[0]][1]) // 1000 == int(ts.timestamp() * 1_000_000)


def test_restarts_mid_stream_lose_and_repeat_nothing(run_dir: Path, receiver: Receiver) -> None:
    """Stopping and starting the shipper while lines are written delivers each exactly once."""
    writer = Writer(appender(run_dir / "logs" / "gateway.log"), count=600)
    for _ in range(4):
        with shipper_for(run_dir, receiver):
            wait_for(lambda: len(receiver.raw) > 0)
            time.sleep(0.1)
    written = writer.join()
    with shipper_for(run_dir, receiver):
        wait_for(lambda: len(receiver.raw) >= len(written))
    assert Counter(line for _, _, line in receiver.entries()) == Counter(written)


@pytest.mark.parametrize("style", ["rotating-file-handler", "rename-and-create", "copytruncate"])
def test_rotation_while_running_loses_and_repeats_nothing(run_dir: Path, receiver: Receiver,
                                                          style: str) -> None:
    """Lines written across many rotations arrive exactly once."""
    log = run_dir / "logs" / "gateway.log"
    handler: logging.Handler | None = None
    if style == "rotating-file-handler":
        handler = logging.handlers.RotatingFileHandler(log, maxBytes=4000, backupCount=1000)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger(f"test-shipper-{id(handler)}")
        logger.propagate = False
        logger.addHandler(handler)
        emit: Callable[[str], None] = lambda line: logger.warning(line)  # noqa: E731
    else:
        emit = appender(log)
    with shipper_for(run_dir, receiver):
        writer = Writer(emit, count=400)
        for n in range(1, 8):
            if style == "rotating-file-handler":
                break
            time.sleep(0.1)
            with writer.lock:  # the writer is between lines, as a logging handler would be
                rotated = log.with_name(f"gateway.log.{n}")
                if style == "rename-and-create":
                    log.rename(rotated)
                else:
                    shutil.copyfile(log, rotated)
                    os.truncate(log, 0)
        written = writer.join()
        wait_for(lambda: len(receiver.raw) >= len(written))
        time.sleep(0.3)  # a duplicate would arrive in the next batch or two
    if handler is not None:
        handler.close()
    assert len(list(log.parent.iterdir())) > 3, "the test did not rotate"
    assert Counter(line for _, _, line in receiver.entries()) == Counter(written)


@pytest.mark.parametrize("outage", ["503", "connection-refused"])
def test_loki_outage_is_retried_and_caught_up(run_dir: Path, receiver: Receiver, outage: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """While Loki is down the shipper retries; afterwards every line arrives exactly once."""
    caplog.set_level(logging.INFO, logger="labkit.shipper")
    emit = appender(run_dir / "logs" / "gateway.log")
    with shipper_for(run_dir, receiver):
        for n in range(20):
            emit(gateway_line(n))
        wait_for(lambda: len(receiver.raw) == 20)
        if outage == "503":
            receiver.status = 503
        else:
            receiver.down()
        for n in range(20, 300):
            emit(gateway_line(n))
        wait_for(lambda: caplog.text.count("retrying") >= 3)
        if outage == "503":
            receiver.status = 204
        else:
            receiver.up()
        wait_for(lambda: len(receiver.raw) >= 300)
        time.sleep(0.3)
    assert len(receiver.raw) == 300
    assert "Loki unreachable" in caplog.text and "Loki answered again" in caplog.text


def test_cli_survives_kill_without_losing_lines(run_dir: Path, receiver: Receiver) -> None:
    """python -m labkit.shipper killed with SIGKILL and restarted loses nothing.

    After a crash the last batch may be sent twice; Loki keeps identical entries
    once, so the receiver's de-duplicated view must equal what was written.
    """
    cmd = [sys.executable, "-m", "labkit.shipper", "--path", f"{run_dir}/logs/gateway.log*",
           "--loki-url", receiver.url, "--positions", f"{run_dir}/shipper/positions.json",
           "--label", "job=llm-api", "--batch-size", "40", "--batch-wait", "100ms"]
    writer = Writer(appender(run_dir / "logs" / "gateway.log"), count=500)
    with subprocess.Popen(cmd, stderr=subprocess.DEVNULL) as first:
        wait_for(lambda: len(receiver.raw) > 40)
        first.kill()
    written = writer.join()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(receiver.lines()) >= len(written))
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert Counter(receiver.lines()) == Counter(written)
    assert "started: tailing" in stderr and "pushed" in stderr


@pytest.mark.parametrize(("extra", "message"), [
    (["--label", "job"], "name=value"),
    (["--batch-wait", "soon"], "bad duration"),
    (["--loki-url", "loki:3100"], "bad Loki URL"),
], ids=["label-without-value", "bad-duration", "bad-url"])
def test_cli_refuses_bad_arguments_clearly(tmp_path: Path, extra: list[str], message: str) -> None:
    """Bad flags exit non-zero with a message that names the problem."""
    argv = ["--path", f"{tmp_path}/x.log*", "--loki-url", "http://127.0.0.1:9",
            "--positions", f"{tmp_path}/p.json", *extra]  # a repeated flag: the last one wins
    result = subprocess.run([sys.executable, "-m", "labkit.shipper", *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr
