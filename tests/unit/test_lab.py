"""Lab hands out one query client per service and replaces it once closed."""

from __future__ import annotations

from labkit.lab import Lab

URLS = {"prometheus": "http://127.0.0.1:1", "loki": "http://127.0.0.1:2",
        "jaeger": "http://127.0.0.1:3"}


def test_each_access_returns_the_same_client() -> None:
    lab = Lab(urls=dict(URLS))
    for name in ("prometheus", "loki", "jaeger"):
        assert getattr(lab, name) is getattr(lab, name)
    lab.close()


def test_a_client_closed_by_a_with_block_is_replaced() -> None:
    lab = Lab(urls=dict(URLS))
    with lab.loki as loki:
        pass
    assert loki.closed
    assert lab.loki is not loki and not lab.loki.closed
    lab.close()


def test_close_closes_every_client_and_a_new_url_gets_a_new_client() -> None:
    lab = Lab(urls=dict(URLS))
    clients = [lab.prometheus, lab.loki, lab.jaeger]
    lab.close()
    assert all(c.closed for c in clients)
    first = lab.jaeger
    lab.urls["jaeger"] = "http://127.0.0.1:4"
    assert lab.jaeger is not first and lab.jaeger.url == "http://127.0.0.1:4"
    lab.close()
