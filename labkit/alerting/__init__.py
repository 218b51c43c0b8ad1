"""Alerting: rule and Alertmanager config rendering, promtool/amtool, the notification sink."""

from __future__ import annotations

from labkit.alerting.alertmanager_config import RECEIVERS, render_alertmanager_config
from labkit.alerting.rules import ALERT_NAMES, render_rule_tests, render_rules

__all__ = [
    "ALERT_NAMES",
    "RECEIVERS",
    "render_alertmanager_config",
    "render_rule_tests",
    "render_rules",
]
