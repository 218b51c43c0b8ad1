"""Jinja2 rendering of the stack's configuration templates (rules, Alertmanager)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import yaml

from labkit.errors import LabError

__all__ = ["default_stack_dir", "render_file", "render_string", "seconds"]

def default_stack_dir() -> Path:
    """The ``stack/`` folder the runtime uses (``$LABKIT_STACK_DIR`` or the checkout's)."""
    from labkit.runtime.templates import stack_dir

    try:
        return stack_dir()
    except FileNotFoundError as exc:
        raise LabError(str(exc)) from exc


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")


def seconds(duration: str) -> int:
    """Seconds in a Prometheus duration such as ``5m`` or ``1h30m`` (ms not needed here)."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise LabError(f"not a duration like 30s, 5m or 1h: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _environment(search_path: list[Path]) -> jinja2.Environment:
    """A strict environment: an unknown variable is an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
        # Prometheus and Alertmanager templates use {{ }} themselves; ours use
        # [[ ]], as in labkit.runtime.templates, so both read naturally side by side.
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
    )
    # Test templates compute evaluation times from the rules' `for:` values.
    env.filters["seconds"] = seconds
    return env


def render_string(template: str, search_path: list[Path], context: dict[str, Any]) -> str:
    """Render template ``template`` (a name on ``search_path``) and check it is YAML."""
    try:
        text = _environment(search_path).get_template(template).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise LabError(
            f"template {template} not found in {', '.join(map(str, search_path))}: "
            "is the stack/ folder of the labkit checkout present?"
        ) from exc
    except jinja2.UndefinedError as exc:
        raise LabError(f"rendering {template}: {exc}; pass it in the context") from exc
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # A template bug, not the user's: say which file so it can be fixed.
        raise LabError(f"{template} rendered to invalid YAML: {exc}") from exc
    return text


def render_file(
    template: str, search_path: list[Path], out_path: Path, context: dict[str, Any]
) -> Path:
    """Render ``template`` into ``out_path`` (parents created) and return the path."""
    text = render_string(template, search_path, context)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8")
    return out_path
