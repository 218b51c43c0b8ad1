"""Dashboards as code (Grafana's foundation SDK), their JSON, and matplotlib previews.

    >>> from labkit.dashboards import render, DASHBOARDS        # doctest: +SKIP
    >>> render("llm-inference-service", lab, start="-15m", path="inference.png")
"""

from labkit.dashboards.build import DASHBOARD_DIR, DASHBOARDS, build_all, build_json, load
from labkit.dashboards.render import draw, render
from labkit.dashboards.snapshot import snapshot

__all__ = ["DASHBOARDS", "DASHBOARD_DIR", "build_all", "build_json", "draw", "load", "render",
           "snapshot"]
