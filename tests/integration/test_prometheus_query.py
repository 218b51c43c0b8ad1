"""The PromQL client against a real Prometheus that scrapes itself every second."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from labkit.errors import QueryHTTPError, QueryParseError
from labkit.query.prometheus import Prometheus
from labkit.runtime.provision import find_binary
from labkit.testing import free_port, run_service

READY_WAIT_S = 60.0
CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
  - job_name: nothing-listens
    static_configs:
      - targets: ["127.0.0.1:{dead_port}"]
"""


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A real Prometheus on a free port with tmp storage, stopped afterwards."""
    binary = find_binary("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run `labkit install` (or apt install prometheus)")
    folder: Path = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    (folder / "prometheus.yml").write_text(CONFIG.format(port=port, dead_port=free_port()))
    url = f"http://127.0.0.1:{port}"
    argv = [binary, f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
    with run_service("prometheus", argv, log_path=folder / "prometheus.log",
                     health_url=f"{url}/-/ready", timeout=READY_WAIT_S), Prometheus(url) as client:
        # Both targets scraped at least twice, so rates and ranges have points.
        client.wait_for('count(count_over_time(up[1m]) >= 2)',
                        lambda f: not f.empty and f["value"].iloc[0] == 2, timeout=30,
                        interval=0.5)
        yield client


def test_up_shows_one_healthy_and_one_dead_target(prom: Prometheus) -> None:
    """`up` is 1 for Prometheus itself and 0 for the port where nothing listens."""
    frame = prom.query("up")
    assert list(frame.columns) == ["metric", "instance", "job", "timestamp", "value"]
    assert frame.set_index("job")["value"].to_dict() == {"nothing-listens": 0.0, "prometheus": 1.0}
    assert (pd.Timestamp.now(tz="UTC") - frame["timestamp"].max()) < pd.Timedelta(minutes=1)


def test_scalar_of_an_aggregate(prom: Prometheus) -> None:
    """sum(up) is one number: one of the two targets is up."""
    assert prom.scalar("sum(up)") == 1.0


def test_query_range_returns_tidy_points(prom: Prometheus) -> None:
    """A range query over the last 30 s at 1 s steps gives several points per series."""
    frame = prom.query_range('up{job="prometheus"}', start="-30s", end="now", step="1s")
    assert set(frame["job"]) == {"prometheus"}
    assert len(frame) >= 2 and (frame["value"] == 1.0).all()
    assert frame["timestamp"].is_monotonic_increasing


def test_rate_of_a_counter(prom: Prometheus) -> None:
    """rate() over Prometheus's own HTTP counter is a positive number while it is queried."""
    frame = prom.wait_for('sum(rate(prometheus_http_requests_total[10s]))',
                          lambda f: not f.empty and f["value"].iloc[0] > 0, timeout=30,
                          interval=0.5)
    assert "metric" not in frame.columns  # sum() drops the name


def test_bad_promql_raises_parse_error_with_prometheus_message(prom: Prometheus) -> None:
    """A syntax error carries Prometheus's own position and message."""
    with pytest.raises(QueryParseError, match=r"1:\d+: parse error") as info:
        prom.query("sum(rate(up[1m])")
    assert info.value.status == 400


def test_execution_error_is_422(prom: Prometheus) -> None:
    """A query that parses but cannot run is an HTTP 422 with the reason."""
    with pytest.raises(QueryHTTPError, match="many-to-many matching not allowed") as info:
        prom.query("up + on() up")
    assert info.value.status == 422


def test_targets_and_series(prom: Prometheus) -> None:
    """targets() reports health and the scrape error; series() lists label sets."""
    targets = prom.targets().set_index("job")
    assert targets.loc["prometheus", "health"] == "up"
    assert targets.loc["nothing-listens", "health"] == "down"
    assert "connection refused" in targets.loc["nothing-listens", "lastError"]
    assert set(prom.series("up")["job"]) == {"prometheus", "nothing-listens"}


def test_latency_plot_runs_real_histogram_quantile(prom: Prometheus) -> None:
    """The percentile plot's PromQL runs on a real histogram (Prometheus's own HTTP latency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labkit.plots import plot_latency_percentiles

    prom.wait_for("prometheus_http_request_duration_seconds_bucket", timeout=30, interval=0.5)
    ax = plot_latency_percentiles(prom, "prometheus_http_request_duration_seconds",
                                  window="10s", start="-30s", step="1s", by="handler",
                                  selector='handler="/api/v1/query"')
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"quantile={q}, handler=/api/v1/query" for q in ("p50", "p95", "p99")]
    plt.close("all")
