"""Alertmanager configs pass amtool and route like the seed: critical pages, warning chats."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labkit.alerting.tools import check_alertmanager_config, route
from labkit.errors import LabError
from labkit.runtime.alertmanager_config import RECEIVERS, render_alertmanager_config

SINK = "http://127.0.0.1:9097"
CONFIGS = [
    pytest.param(True, "sink", id="lab-sink"),
    pytest.param(False, "sink", id="production-timing-sink"),
    pytest.param(True, "production", id="lab-production-receivers"),
    pytest.param(False, "production", id="production"),
]


def _render(tmp_path: Path, lab: bool, receivers: str) -> Path:
    return render_alertmanager_config(tmp_path / "alertmanager.yml", sink_url=SINK, lab=lab,
                                      receivers=receivers)  # type: ignore[arg-type]


@pytest.mark.parametrize("lab,receivers", CONFIGS)
def test_amtool_check_config_passes(tmp_path: Path, lab: bool, receivers: str) -> None:
    """amtool accepts every rendering."""
    result = check_alertmanager_config(_render(tmp_path, lab, receivers))
    assert result.ok, result.output


@pytest.mark.parametrize("lab,receivers", CONFIGS)
@pytest.mark.parametrize("severity,expected", [
    pytest.param("critical", ["pager", "email"], id="critical-pages-and-continues"),
    pytest.param("warning", ["chat"], id="warning-chats"),
    pytest.param("info", ["email"], id="other-emails"),
])
def test_routing_tree(tmp_path: Path, lab: bool, receivers: str, severity: str,
                      expected: list[str]) -> None:
    """amtool routes each severity to the seed's receivers, in every rendering."""
    config = _render(tmp_path, lab, receivers)
    assert route(config, {"alertname": "HighErrorRate", "severity": severity}) == expected


def test_lab_receivers_post_to_the_sink_by_name(tmp_path: Path) -> None:
    """Each lab receiver is a webhook to the sink whose path names the receiver."""
    config = yaml.safe_load(_render(tmp_path, True, "sink").read_text())
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
    assert urls == {name: f"{SINK}/hook/{name}" for name in RECEIVERS}


@pytest.mark.parametrize("lab,group_wait", [
    pytest.param(True, "1s", id="lab"), pytest.param(False, "10s", id="production-seed"),
])
def test_group_wait_follows_mode(tmp_path: Path, lab: bool, group_wait: str) -> None:
    """The lab groups for a second; production keeps the seed's 10s."""
    config = yaml.safe_load(_render(tmp_path, lab, "sink").read_text())
    assert config["route"]["group_wait"] == group_wait


def test_production_config_holds_no_secret(tmp_path: Path) -> None:
    """Production receivers name files for every secret and contain no key, URL or password."""
    text = _render(tmp_path, False, "production").read_text()
    config = yaml.safe_load(text)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["pager"]["pagerduty_configs"][0]["routing_key_file"].endswith(
        "/pagerduty_routing_key")
    assert config["global"]["slack_api_url_file"].endswith("/slack_api_url")
    assert config["global"]["smtp_auth_password_file"].endswith("/smtp_password")
    for secret_field in ("service_key:", "routing_key:", "api_url:", "auth_password:",
                         "hooks.slack.com"):
        assert secret_field not in text


@pytest.mark.parametrize("url", ["127.0.0.1:9097", "ftp://x", ""],
                         ids=["no-scheme", "ftp", "empty"])
def test_bad_sink_url_is_refused(tmp_path: Path, url: str) -> None:
    """A sink URL that Alertmanager could not post to is refused with an example."""
    with pytest.raises(LabError, match=r"http://127\.0\.0\.1:9097"):
        render_alertmanager_config(tmp_path / "a.yml", sink_url=url, lab=True)
