"""The shipper into labkit's Loki stand-in, read back with LogQL over HTTP."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from labkit.shipper import Shipper
from labkit.testing import free_port, poll_until, run_service


@pytest.fixture()
def loki(tmp_path: Path) -> Iterator[str]:
    """A running stand-in; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "labkit.standins.loki", "--port", str(port),
           "--data-dir", str(tmp_path / "loki")]
    with run_service("loki stand-in", cmd, log_path=tmp_path / "loki.log",
                     health_url=f"{url}/ready", timeout=60):
        yield url


def query_lines(url: str, logql: str) -> list[tuple[dict[str, str], str]]:
    now = time.time_ns()
    resp = httpx.get(f"{url}/loki/api/v1/query_range", timeout=30, params={
        "query": logql, "start": str(now - 3600 * 10**9), "end": str(now + 60 * 10**9),
        "limit": "5000", "direction": "forward"})
    resp.raise_for_status()
    return [(s["stream"], v[1]) for s in resp.json()["data"]["result"] for v in s["values"]]


def test_rotated_and_restarted_shipping_reads_back_exactly(tmp_path: Path, loki: str) -> None:
    """Lines logged through RotatingFileHandler, across a shipper restart, query back once each."""
    log = tmp_path / "logs" / "gateway.log"
    log.parent.mkdir()
    handler = logging.handlers.RotatingFileHandler(log, maxBytes=3000, backupCount=100)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test-shipper-standin")
    logger.propagate = False
    logger.addHandler(handler)
    written: list[str] = []

    def emit(n: int) -> None:
        level = "ERROR" if n % 5 == 0 else "INFO"
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = json.dumps({"timestamp": ts, "level": level, "message": "Request completed",
                           "request_id": f"req-{n:04d}"})
        logger.warning(line)
        written.append(line)

    def shipper() -> Shipper:
        return Shipper(f"{log}*", loki, positions=tmp_path / "shipper" / "positions.json",
                       labels={"job": "llm-api"}, batch_size=25, batch_wait=0.1,
                       poll_interval=0.02)
    try:
        with shipper():
            for n in range(150):
                emit(n)
        for n in range(150, 300):  # written while no shipper runs
            emit(n)
        with shipper():
            poll_until("every written line in Loki", lambda: query_lines(loki, '{job="llm-api"}'),
                       lambda got: len(got) >= len(written), timeout=60, interval=0.2)
    finally:
        handler.close()
    assert len(list(log.parent.iterdir())) > 3, "the test did not rotate"
    got = query_lines(loki, '{job="llm-api"}')
    assert Counter(line for _, line in got) == Counter(written)
    errors = query_lines(loki, '{job="llm-api", level="ERROR"}')
    assert sorted(line for _, line in errors) == sorted(w for w in written if '"ERROR"' in w)
    assert all(labels == {"job": "llm-api", "level": "ERROR"} for labels, _ in errors)
