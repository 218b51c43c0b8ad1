"""The same usage SQL on a real PostgreSQL: the gateway's writer and the cost report agree
with SQLite row for row. Needs PostgreSQL's server binaries (`make test` installs them) and
psycopg (the `postgres` extra); without them the test fails and says what to install."""

from __future__ import annotations

import glob
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from labkit.cost import CostTracker
from labkit.gateway.usage import UsageRecorder
from labkit.testing import free_port

pytestmark = pytest.mark.integration

PRICES = {"instances": {"box": 2.0}, "tokens": {"a": {"prompt": 1.0, "completion": 3.0},
                                                "b": 0.5}}
ROWS = [  # created_at, user, model, status, prompt, completion
    (datetime(2026, 1, 1, 10), "u1", "a", 200, 1000, 500),
    (datetime(2026, 1, 1, 11), "u1", "a", 200, 500, 500),
    (datetime(2026, 1, 1, 12), "u2", "b", 200, 1000, 1500),
    (datetime(2026, 1, 1, 12, 30), "u1", "b", 500, 0, 0),
    (datetime(2026, 1, 2, 9), None, "a", 200, 1000, 1000),
]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)




@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free loopback port, trust auth, stopped afterwards."""
    try:
        import psycopg  # only checks that it is installed
    except ImportError:
        pytest.fail("psycopg is not installed: pip install 'labkit[postgres]'")
    initdb, server = _pg_bin("initdb"), _pg_bin("postgres")
    if not initdb or not server:
        pytest.fail("PostgreSQL server binaries not installed: apt install postgresql")
    # PostgreSQL refuses to run as root: run it as the 'postgres' account in a directory
    # that account owns (pytest's tmp_path sits under a root-only directory).
    as_user: dict[str, object] = {}
    root = Path(tempfile.mkdtemp(prefix="labkit-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root and there is no 'postgres' account to run PostgreSQL "
                        "(apt install postgresql creates it)")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = {"user": account.pw_uid, "group": account.pw_gid}
    port = free_port()
    subprocess.run([initdb, "-D", str(root / "data"), "-U", "labkit", "--auth=trust",
                    "-E", "UTF8"], check=True, capture_output=True, **as_user)  # type: ignore[call-overload]
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(  # type: ignore[call-overload]
        [server, "-D", str(root / "data"), "-h", "127.0.0.1", "-p", str(port),
         "-k", str(root)], stdout=log, stderr=subprocess.STDOUT, **as_user)
    url = f"postgresql://labkit@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(f"host=127.0.0.1 port={port} user=labkit dbname=postgres").close()
                break
            except psycopg.OperationalError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = (root / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"PostgreSQL did not start: {text}") from exc
                time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)  # "fast" shutdown
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _fill(url: str) -> None:
    """Write the rows through the gateway's own background writer, then flush it."""
    recorder = UsageRecorder(url)
    for i, (created, user, model, status, prompt, completion) in enumerate(ROWS):
        recorder.record(created_at=created, request_id=f"req_{i}", user_id=user, model=model,
                        endpoint="/v1/chat/completions", status=status,
                        prompt_tokens=prompt, completion_tokens=completion,
                        total_tokens=prompt + completion, duration_ms=10.0)
    recorder.close()


def test_postgres_and_sqlite_give_the_same_report(postgres_url: str, tmp_path: Path) -> None:
    """Costs, per-user costs and the daily report are identical on both databases."""
    sqlite_url = f"sqlite:///{tmp_path / 'usage.db'}"
    for url in (postgres_url, sqlite_url):
        _fill(url)
    pg = CostTracker(postgres_url, prices=PRICES, instances={"box": 1})
    lite = CostTracker(sqlite_url, prices=PRICES, instances={"box": 1})
    try:
        _compare(pg, lite)
    finally:  # close the pools before the server goes: no connection is left to the GC
        pg.store.close()
        lite.store.close()


def _compare(pg: CostTracker, lite: CostTracker) -> None:
    assert pg.store.engine.url.drivername == "postgresql+psycopg"

    since, until = datetime(2026, 1, 1), datetime(2026, 1, 2)
    by_model = pg.costs("model", since=since, until=until)
    pd.testing.assert_frame_equal(by_model, lite.costs("model", since=since, until=until),
                                  check_dtype=False)
    assert by_model.loc["a", "total_cost"] == pytest.approx(28.5)
    assert by_model.loc["b", "errors"] == 1
    pd.testing.assert_frame_equal(pg.costs("user_id", hours=0), lite.costs("user_id", hours=0),
                                  check_dtype=False)
    report = pg.daily_report("2026-01-01")
    assert report.total_cost == pytest.approx(53.75)
    assert report.as_dict() == lite.daily_report("2026-01-01").as_dict()
    assert pg.usage_cost_per_1k_tokens("a", until=until) == pytest.approx(1.8)
    assert len(pg.store.rows(model="a")) == 3


def test_one_bad_row_does_not_take_its_batch_with_it_on_postgres(
        postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL refuses an over-long user id; its batch-mates are still stored, and the
    refused row is logged with its values and counted, not lost silently."""
    logging.getLogger("llm-api").addHandler(caplog.handler)  # it does not propagate
    recorder = UsageRecorder(postgres_url, retry_wait_s=0.01)
    good = {"endpoint": "/v1/chat/completions", "status": 200, "prompt_tokens": 1,
            "completion_tokens": 1, "total_tokens": 2, "duration_ms": 1.0, "model": "a"}
    recorder.write([{**good, "request_id": "pg_ok_1", "user_id": "u1",
                     "created_at": datetime(2026, 2, 1)},
                    {**good, "request_id": "pg_bad", "user_id": "u" * 500,
                     "created_at": datetime(2026, 2, 1)},
                    {**good, "request_id": "pg_ok_2", "user_id": None,
                     "created_at": datetime(2026, 2, 1)}])
    recorder.close()
    logging.getLogger("llm-api").removeHandler(caplog.handler)
    store = CostTracker(postgres_url, prices=PRICES, instances={"box": 1}).store
    try:
        ids = sorted(store.rows(since=datetime(2026, 2, 1), until=datetime(2026, 2, 2))
                     ["request_id"])
    finally:
        store.close()
    assert ids == ["pg_ok_1", "pg_ok_2"]
    assert (recorder.written, recorder.lost) == (2, 1)
    assert "Usage row lost" in caplog.text
