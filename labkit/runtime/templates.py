"""Render the service configuration templates under ``stack/`` into a run directory.

Templates are Jinja2 with ``[[ var ]]`` / ``[% block %]`` delimiters, because
Prometheus and Alertmanager use ``{{ }}`` themselves. Rendering is strict (an
unknown variable is an error, not an empty string) and YAML output is checked
to parse, so a template bug names its file instead of breaking a service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml

from labkit.config import LabConfig
from labkit.durations import parse_duration
from labkit.errors import LabError

__all__ = ["render", "render_file", "render_string", "seconds", "stack_dir"]



def stack_dir() -> Path:
    """The ``stack/`` folder: ``$LABKIT_STACK_DIR``, else the one beside the package."""
    path = LabConfig.from_env().stack_dir or Path(__file__).resolve().parents[2] / "stack"
    if not path.is_dir():
        raise LabError(
            f"stack directory not found at {path}; run labkit from a checkout "
            "or set LABKIT_STACK_DIR to the repository's stack/ folder"
        )
    return path


def seconds(duration: str) -> int:
    """Seconds in a Prometheus duration such as ``5m`` or ``1h30m`` (a template filter)."""
    try:
        return round(parse_duration(duration, units=("s", "m", "h", "d")))
    except ValueError:
        raise LabError(f"not a duration like 30s, 5m or 1h: {duration!r}") from None


def _environment(search_path: list[Path]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
    )
    # Rule test templates compute evaluation times from the rules' `for:` values.
    env.filters["seconds"] = seconds
    return env


def render_string(template: str, search_path: list[Path], context: dict[str, Any]) -> str:
    """Render ``template`` (a name on ``search_path``); YAML output must parse."""
    try:
        text = _environment(search_path).get_template(template).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise LabError(
            f"template {template} not found in {', '.join(map(str, search_path))}: "
            "is the stack/ folder of the labkit checkout present?"
        ) from exc
    except jinja2.UndefinedError as exc:
        raise LabError(f"rendering {template}: {exc}; pass it in the context") from exc
    if template.endswith((".yml.j2", ".yaml.j2")):
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            # A template bug, not the user's: say which file so it can be fixed.
            raise LabError(f"{template} rendered to invalid YAML: {exc}") from exc
    return text


def render_file(template: str, search_path: list[Path], out_path: Path,
                context: dict[str, Any]) -> Path:
    """Render ``template`` into ``out_path`` atomically (parents created)."""
    text = render_string(template, search_path, context)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_path)
    return out_path


def render(template: str, out: Path, **context: Any) -> Path:
    """Render ``stack/<template>`` with ``context`` into ``out``."""
    return render_file(template, [stack_dir()], out, context)
