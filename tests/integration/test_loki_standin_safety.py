"""The stand-in as a real process, under attack and accident: killed mid-push, fed a
catastrophic regex, driven by a web page."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from labkit.testing import poll_until
from tests.integration.loki_server import StandinServer

NOW = time.time_ns()
BATCH = 20
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StandinServer]:
    """A started stand-in over tmp_path/loki, stopped afterwards."""
    with StandinServer(tmp_path / "loki") as srv:
        yield srv


def _batch(i: int) -> bytes:
    values = [[str(NOW - 3600 * 10**9 + i * 1000 + j), f"batch {i} line {j}"]
              for j in range(BATCH)]
    return orjson.dumps({"streams": [{"stream": {"job": "crash", "batch": str(i)},
                                      "values": values}]})


def _counts(srv: StandinServer) -> dict[int, int]:
    r = httpx.get(srv.url + "/loki/api/v1/query", timeout=30, params={
        "query": 'sum by (batch) (count_over_time({job="crash"}[2h]))', "time": str(NOW)})
    assert r.status_code == 200, r.text
    return {int(s["metric"]["batch"]): int(s["value"][1]) for s in r.json()["data"]["result"]}


def test_kill_9_mid_push_keeps_every_acknowledged_entry_once(tmp_path: Path) -> None:
    """SIGKILL while batches stream in: after a restart every batch answered 204 is there
    whole, no batch is there twice, and resending everything stores nothing new."""
    srv = StandinServer(tmp_path / "loki")
    srv.start()
    acked: list[int] = []
    sent: list[int] = []
    stop = threading.Event()

    def pusher() -> None:
        with httpx.Client(timeout=5) as client:
            for i in range(400):  # max_query_series is 500: one series per batch
                if stop.is_set():
                    return
                sent.append(i)
                try:
                    r = client.post(srv.url + "/loki/api/v1/push", content=_batch(i),
                                    headers=JSON)
                except httpx.TransportError:
                    return  # the server died under this push: not acknowledged
                if r.status_code == 204:
                    acked.append(i)

    thread = threading.Thread(target=pusher)
    thread.start()
    try:
        poll_until("30 acknowledged pushes", lambda: len(acked), lambda n: n >= 30, 30, 0.01)
        time.sleep(random.uniform(0.0, 0.2))
        srv.kill()  # mid-stream: the pusher is still sending
    finally:
        stop.set()
        thread.join(timeout=30)
    assert len(acked) >= 30, "the pusher never got going"
    srv.start()
    try:
        counts = _counts(srv)
        assert all(counts.get(i) == BATCH for i in acked), "an acknowledged batch was lost"
        assert set(counts) <= set(sent)
        assert all(n == BATCH for n in counts.values()), "a batch is partial or duplicated"
        for i in sent:  # resending is safe: nothing is stored twice
            assert httpx.post(srv.url + "/loki/api/v1/push", content=_batch(i),
                              headers=JSON).status_code == 204
        assert _counts(srv) == {i: BATCH for i in sent}
    finally:
        srv.stop()


@pytest.mark.timeout(120)
def test_catastrophic_regex_does_not_stall_the_server(server: StandinServer) -> None:
    """`|~ "(a+)+$"` over long lines of a's ending in "!" (exponential for a backtracking
    engine) completes, and /ready keeps answering while it runs."""
    lines = [[str(NOW - (i + 1) * 10**9), "a" * 20_000 + "!"] for i in range(50)]
    body = orjson.dumps({"streams": [{"stream": {"job": "x"}, "values": lines}]})
    assert httpx.post(server.url + "/loki/api/v1/push", content=body,
                      headers=JSON).status_code == 204
    answers: list[httpx.Response] = []

    def query() -> None:
        for _ in range(3):
            answers.append(httpx.get(server.url + "/loki/api/v1/query_range", timeout=100,
                                     params={"query": '{job="x"} |~ "(a+)+$"',
                                             "start": str(NOW - 3600 * 10**9)}))

    thread = threading.Thread(target=query)
    thread.start()
    ready = []
    while thread.is_alive():
        ready.append(httpx.get(server.url + "/ready", timeout=10).text)
        time.sleep(0.05)
    thread.join()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json()["data"]["result"] == [] for a in answers)  # "!" ends every line
    assert ready and set(ready) == {"ready"}
    r = httpx.get(server.url + "/loki/api/v1/query_range", timeout=30, params={
        "query": '{job="x"} |~ "(a+)+!$"', "start": str(NOW - 3600 * 10**9), "limit": "5"})
    assert len(r.json()["data"]["result"][0]["values"]) == 5  # RE2 still matches what it should


def test_a_web_page_cannot_push_or_read(server: StandinServer) -> None:
    """A cross-site text/plain POST stores nothing (415); a rebinding Host is refused (403)
    for reads and writes; the same push as JSON from a local client works."""
    body = orjson.dumps({"streams": [{"stream": {"job": "web"},
                                      "values": [[str(NOW - 10**9), "forged"]]}]})
    r = httpx.post(server.url + "/loki/api/v1/push", content=body,
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = httpx.post(server.url + "/loki/api/v1/push", content=body,
                   headers={**JSON, "Origin": "https://evil.example"})
    assert r.status_code == 403
    rebinding = {"Host": f"evil.example:{server.port}"}
    assert httpx.get(server.url + "/loki/api/v1/labels", headers=rebinding).status_code == 403
    assert httpx.post(server.url + "/loki/api/v1/push", content=body,
                      headers={**JSON, **rebinding}).status_code == 403
    params = {"query": '{job="web"}', "start": str(NOW - 60 * 10**9)}
    assert httpx.get(server.url + "/loki/api/v1/query_range",
                     params=params).json()["data"]["result"] == []
    assert httpx.post(server.url + "/loki/api/v1/push", content=body,
                      headers=JSON).status_code == 204
    assert httpx.get(f"http://localhost:{server.port}/loki/api/v1/labels").status_code == 200


def test_allowed_host_option(tmp_path: Path) -> None:
    """--allowed-host adds a name (a compose service name, say) the server answers to."""
    srv = StandinServer(tmp_path / "loki", "--allowed-host", "loki")
    srv.start()
    try:
        ok = httpx.get(srv.url + "/ready", headers={"Host": f"loki:{srv.port}"})
        bad = httpx.get(srv.url + "/ready", headers={"Host": f"other:{srv.port}"})
        assert (ok.status_code, bad.status_code) == (200, 403)
    finally:
        srv.stop()
