"""Every panel query of every dashboard returns data against the live lab (GPU panels: on the
synthetic DCGM series), and `labkit dashboards snapshot` writes a PNG of each dashboard."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from labkit.dashboards import DASHBOARDS, build_json
from labkit.dashboards.queries import Clients, TimeRange, panel_targets, run_panel, variables
from labkit.dashboards.snapshot import snapshot
from labkit.exporters.synthetic_gpu import lab_ranges, lab_window
from labkit.lab import Lab
from labkit.load import generate_load
from labkit.testing import poll_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def busy_lab(lab_stack: Lab) -> Lab:
    """The lab after some traffic (with a few errors) has been scraped and logged."""
    generate_load(lab_stack.gateway_url, rate=4.0, duration=12, seed=3, progress=False)
    for _ in range(2):
        httpx.post(lab_stack.gateway_url + "/v1/chat/completions", content=b"{bad json",
                   headers={"content-type": "application/json"}, timeout=10)
    with lab_stack.prometheus as prom:
        prom.wait_for("sum(instance:llamacpp_decode_tokens_per_second:rate5m)",
                      lambda f: not f.empty, timeout=60)
        prom.wait_for('process_resident_memory_bytes{job="llama-server-process"}',
                      lambda f: not f.empty, timeout=30)
    return lab_stack


def _range_for(panel: dict, lab: Lab) -> TimeRange:
    """GPU panels on the synthetic series' hour (this lab has no GPU); others on the last 3m."""
    if any("DCGM_" in t.get("expr", "") for t in panel["targets"]):
        window = lab_window(lab)
        assert window is not None, "no synthetic GPU series were backfilled"
        return TimeRange(window.start, window.end)
    now = time.time()
    return TimeRange(now - 180, now)


@pytest.mark.parametrize("uid", list(DASHBOARDS))
def test_every_panel_query_returns_data(uid: str, busy_lab: Lab) -> None:
    """No panel of the dashboard is empty or broken: each of its queries returns series."""
    model = build_json(uid)
    values = variables(model, TimeRange(time.time() - 180, time.time()))

    def missing() -> list[str]:
        with Clients(busy_lab) as clients:
            return [f"{panel['title']}: {error}" for panel in model["panels"]
                    for error in run_panel(panel, clients, _range_for(panel, busy_lab),
                                           values).errors]

    poll_until(f"data in every panel of {uid}", missing, lambda errors: not errors,
               timeout=90, interval=5)
    assert sum(1 for _ in panel_targets(model, values)) >= len(model["panels"])


def test_gpu_panels_read_the_labelled_synthetic_series(busy_lab: Lab) -> None:
    """Without a GPU, the DCGM series exist only with source="synthetic", in the past."""
    window = lab_window(busy_lab)
    assert window is not None
    with busy_lab.prometheus as prom:
        at_end = prom.query("DCGM_FI_DEV_GPU_UTIL", time=window.end)
        assert set(at_end["source"]) == {"synthetic"} and len(at_end) == 2
        assert prom.query("DCGM_FI_DEV_GPU_UTIL").empty, "synthetic series must not reach now"


def test_snapshot_writes_a_png_per_dashboard(busy_lab: Lab, tmp_path: Path) -> None:
    """`labkit dashboards snapshot` renders every dashboard to a PNG."""
    paths = snapshot(tmp_path / "snapshots", busy_lab, start="-5m",
                     ranges=lab_ranges(busy_lab))
    assert [p.stem for p in paths] == list(DASHBOARDS)
    for path in paths:
        assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 20_000
    print("dashboard previews:", *paths, sep="\n  ")
