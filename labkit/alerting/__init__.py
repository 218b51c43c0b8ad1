"""Alerting from a notebook: render the lab's rules and Alertmanager config, run promtool/amtool.

The renderers live with the rest of the stack's configuration in ``labkit.runtime``
(``rules``, ``alertmanager_config``) and are re-exported here; the promtool/amtool wrappers
the checks use are in :mod:`labkit.alerting.tools`; the notification sink every lab receiver
posts to is a stand-in, :mod:`labkit.standins.sink`.
"""

from __future__ import annotations

from labkit.runtime.alertmanager_config import RECEIVERS, render_alertmanager_config
from labkit.runtime.rules import ALERT_NAMES, render_rule_tests, render_rules

__all__ = [
    "ALERT_NAMES",
    "RECEIVERS",
    "render_alertmanager_config",
    "render_rule_tests",
    "render_rules",
]
