"""Alerting: rule and Alertmanager config rendering, promtool/amtool, the notification sink."""

from __future__ import annotations

from labkit.alerting.rules import ALERT_NAMES, render_rule_tests, render_rules

__all__ = ["ALERT_NAMES", "render_rule_tests", "render_rules"]
