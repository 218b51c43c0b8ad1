"""Dashboards as code: every lab dashboard, built to Grafana JSON in ``stack/grafana/dashboards``.

``labkit dashboards build`` writes one ``<uid>.json`` per dashboard; Grafana's file
provisioning loads them, and :func:`labkit.dashboards.render` previews them. A unit test
compares the committed files with :func:`build_json` so the two never drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from labkit.dashboards.inference import inference_service, red_overview
from labkit.dashboards.server import llama_server
from labkit.dashboards.slo import slo
from labkit.dashboards.system import gpu, host

__all__ = ["DASHBOARDS", "DASHBOARD_DIR", "build_all", "build_json", "load", "out_of_sync"]

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "stack" / "grafana" / "dashboards"

# uid -> builder, in the order the notebook shows them.
DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "llm-inference-service": inference_service,
    "llm-red-overview": red_overview,
    "llamacpp-server": llama_server,
    "llm-slo": slo,
    "host": host,
    "gpu-dcgm": gpu,
}


def build_json(uid: str) -> dict[str, Any]:
    """One dashboard as Grafana's JSON model (a dict), panels numbered from 1."""
    try:
        builder = DASHBOARDS[uid]
    except KeyError:
        raise KeyError(f"no dashboard {uid!r}; known: {', '.join(DASHBOARDS)}") from None
    model: dict[str, Any] = json.loads(json.dumps(builder().build(), cls=JSONEncoder))
    for number, panel in enumerate(model.get("panels", []), start=1):
        panel["id"] = number
    return model


def _text(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def build_all(out_dir: Path | None = None) -> list[Path]:
    """Write every dashboard to ``out_dir`` (default: the stack's) and return the paths."""
    out = Path(out_dir or DASHBOARD_DIR)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for uid in DASHBOARDS:
        path = out / f"{uid}.json"
        path.write_text(_text(build_json(uid)))
        paths.append(path)
    return paths


def out_of_sync(out_dir: Path | None = None) -> list[str]:
    """The dashboards whose file differs from what the code builds (missing counts too)."""
    out = Path(out_dir or DASHBOARD_DIR)
    stale = []
    for uid in DASHBOARDS:
        path = out / f"{uid}.json"
        if not path.is_file() or path.read_text() != _text(build_json(uid)):
            stale.append(uid)
    return stale


def load(dashboard: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A dashboard model from a uid, a JSON file, or a dict (returned as is)."""
    if isinstance(dashboard, dict):
        return dashboard
    path = Path(dashboard)
    if isinstance(dashboard, str) and dashboard in DASHBOARDS:
        path = DASHBOARD_DIR / f"{dashboard}.json"
        if not path.is_file():
            return build_json(dashboard)
    try:
        model: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no dashboard {dashboard!r}: give a uid "
                                f"({', '.join(DASHBOARDS)}) or a JSON file") from None
    return model.get("dashboard", model)  # the seed wraps it in {"dashboard": ...}
