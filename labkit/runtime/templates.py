"""Render the service configuration templates under ``stack/`` into a run directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["render", "stack_dir"]


def stack_dir() -> Path:
    """The ``stack/`` folder: ``$LABKIT_STACK_DIR``, else the one beside the package."""
    override = os.environ.get("LABKIT_STACK_DIR")
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "stack"
    if not path.is_dir():
        raise FileNotFoundError(
            f"stack directory not found at {path}; run labkit from a checkout "
            "or set LABKIT_STACK_DIR to the repository's stack/ folder"
        )
    return path


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(stack_dir())),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        keep_trailing_newline=True,
        # Prometheus and Alertmanager use {{ }} themselves; our variables use [[ ]].
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
    )


def render(template: str, out: Path, **context: Any) -> Path:
    """Render ``stack/<template>`` with ``context`` into ``out`` (parents created)."""
    text = _environment().get_template(template).render(**context)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return out
