"""The dashboards as code: committed JSON in sync, every panel documented, thresholds = alerts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from labkit.dashboards import DASHBOARDS, build_all, build_json
from labkit.dashboards.build import DASHBOARD_DIR, out_of_sync
from labkit.dashboards.inference import SEED_DASHBOARD
from labkit.dashboards.panels import ALERT_THRESHOLDS, time_series
from labkit.runtime.rules import render_rules

UIDS = list(DASHBOARDS)


def _panels(uid: str) -> list[dict]:
    return build_json(uid)["panels"]


def test_committed_json_matches_the_code() -> None:
    """stack/grafana/dashboards holds exactly what `labkit dashboards build` writes."""
    assert out_of_sync() == [], "run `labkit dashboards build` and commit the result"
    assert sorted(p.stem for p in DASHBOARD_DIR.glob("*.json")) == sorted(UIDS)


def test_a_hand_edited_file_is_reported_out_of_sync(tmp_path: Path) -> None:
    """Editing a built file by hand makes the sync check name that dashboard."""
    build_all(tmp_path)
    path = tmp_path / "host.json"
    path.write_text(path.read_text().replace("CPU busy", "CPU"))
    assert out_of_sync(tmp_path) == ["host"]


def test_there_are_six_dashboards_with_distinct_uids_and_titles() -> None:
    """Inference service, RED, llama.cpp, SLO, host and GPU: six dashboards."""
    titles = {build_json(uid)["title"] for uid in UIDS}
    assert len(UIDS) == 6 and len(titles) == 6
    assert {build_json(uid)["uid"] for uid in UIDS} == set(UIDS)


@pytest.mark.parametrize("uid", UIDS)
def test_every_panel_has_a_unit_a_description_and_queries(uid: str) -> None:
    """A panel without a unit or a description, or without a query, is a bug."""
    for panel in _panels(uid):
        assert panel["description"].strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["type"] in {"timeseries", "stat", "gauge", "bargauge", "table"}


@pytest.mark.parametrize("uid", UIDS)
def test_panels_do_not_overlap_on_the_grid(uid: str) -> None:
    """Each panel has its own cells of the 24-column grid."""
    taken: set[tuple[int, int]] = set()
    for panel in _panels(uid):
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                 for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, panel["title"]
        taken |= cells


def test_the_seed_mistakes_are_gone() -> None:
    """No seed metric name, no unaggregated histogram_quantile, no FB_USED / FB_FREE."""
    text = " ".join(t["expr"] for uid in UIDS for p in _panels(uid) for t in p["targets"])
    assert not re.search(r"\bllama_(requests|tokens|slots|request_errors)", text)
    for match in re.finditer(r"histogram_quantile\(([^,]+), (\w+)", text):
        assert match.group(2) == "sum", match.group(0)
    assert "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE" not in text
    seed = " ".join(t["expr"] for p in SEED_DASHBOARD["panels"] for t in p["targets"])
    assert "llama_requests_total" in seed and "FB_USED / DCGM_FI_DEV_FB_FREE" in seed


def _alert_exprs(tmp_path: Path) -> dict[str, str]:
    exprs = {}
    for path in render_rules(tmp_path, lab=False, slots=4):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    exprs.setdefault(rule["alert"], rule["expr"])
    return exprs


@pytest.mark.parametrize("alert", list(ALERT_THRESHOLDS))
def test_panel_thresholds_are_the_alerts_thresholds(alert: str, tmp_path: Path) -> None:
    """The value a panel turns red at is the value the alert rule compares against."""
    expr = " ".join(_alert_exprs(tmp_path)[alert].split())
    assert re.search(rf"> {re.escape(format(ALERT_THRESHOLDS[alert], 'g'))}\b", expr), expr
    reds = [s["value"] for uid in UIDS for p in _panels(uid)
            for s in p["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
            if s["color"] == "red"]
    assert ALERT_THRESHOLDS[alert] in reds


def test_a_panel_without_unit_or_description_is_refused() -> None:
    """The panel builders refuse an undocumented panel."""
    from labkit.dashboards.panels import promql

    with pytest.raises(ValueError, match="needs a description and a unit"):
        time_series("x", "", "short", [promql("up")])
    with pytest.raises(ValueError, match="needs a description and a unit"):
        time_series("x", "what it shows", "", [promql("up")])


def test_cli_build_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`labkit dashboards build --out D` writes six files; `check` fails once one is edited."""
    from labkit.cli import main

    assert main(["dashboards", "build", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.json"))) == len(UIDS)
    assert main(["dashboards", "check", "--out", str(tmp_path)]) == 0
    (tmp_path / "llm-slo.json").write_text("{}")
    assert main(["dashboards", "check", "--out", str(tmp_path)]) == 1
    assert "llm-slo" in capsys.readouterr().err
