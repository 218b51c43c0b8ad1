"""A web page the learner visits cannot drive the Jaeger stand-in or the sink.

A cross-site "simple" POST (text/plain, a form) needs no CORS preflight, and DNS
rebinding lets a page read answers from a name it controls: each server refuses
both. (The gateway's own cross-site tests are in test_gateway_edge.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from labkit.standins.jaeger.app import create_otlp_app, create_query_app
from labkit.standins.jaeger.store import Store
from labkit.standins.sink import create_app as create_sink

LOCAL = "http://127.0.0.1:9000"
ALERT = b'{"version": "4", "status": "firing", "alerts": [{"labels": {"alertname": "Forged"}}]}'


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, TestClient]]:
    store = Store(tmp_path / "jaeger")
    with TestClient(create_otlp_app(store), base_url=LOCAL) as otlp, \
            TestClient(create_query_app(store), base_url=LOCAL) as query, \
            TestClient(create_sink(tmp_path / "sink"), base_url=LOCAL) as sink:
        yield {"otlp": otlp, "query": query, "sink": sink}
    store.close()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_simple_cross_site_posts_are_refused(servers: dict[str, TestClient],
                                             content_type: str) -> None:
    """A forged alert or span sent as a simple request gets 415 and stores nothing."""
    sink, otlp = servers["sink"], servers["otlp"]
    r = sink.post("/hook/pager", content=ALERT, headers={"content-type": content_type})
    assert r.status_code == 415 and "Content-Type" in r.json()["error"]
    assert sink.get("/notifications").json() == []
    r = otlp.post("/v1/traces", content=b"{}", headers={"content-type": content_type})
    assert r.status_code == 415
    assert servers["query"].get("/api/services").json()["data"] == []


@pytest.mark.parametrize("server,path", [("sink", "/notifications"), ("query", "/api/services"),
                                         ("otlp", "/"), ("sink", "/health")])
def test_foreign_host_names_are_refused(servers: dict[str, TestClient], server: str,
                                        path: str) -> None:
    """DNS rebinding: a request naming another host is refused; loopback names are served."""
    client = servers[server]
    assert client.get(path, headers={"host": "rebind.attacker.example"}).status_code == 400
    for host in ("127.0.0.1:9000", "localhost:9000", "[::1]:9000"):
        assert client.get(path, headers={"host": host}).status_code == 200, host


def test_the_sink_still_takes_alertmanager_json(servers: dict[str, TestClient]) -> None:
    """What Alertmanager sends (application/json to a loopback name) is stored."""
    r = servers["sink"].post("/hook/pager", content=ALERT,
                             headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert [n["alertname"] for n in servers["sink"].get("/notifications").json()] == ["Forged"]
