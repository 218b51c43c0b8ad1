"""Render Alertmanager's configuration: lab receivers (the sink) or production ones.

>>> render_alertmanager_config(Path("/tmp/lab/alertmanager.yml"),
...                            sink_url="http://127.0.0.1:9097", lab=True)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from labkit.errors import LabError
from labkit.runtime.templates import render_file
from labkit.runtime.templates import stack_dir as default_stack_dir

__all__ = ["RECEIVERS", "ProductionReceivers", "render_alertmanager_config"]

#: The receivers of the routing tree: critical pages, warning chats, the rest emails.
RECEIVERS = ("pager", "chat", "email")


@dataclass(frozen=True)
class ProductionReceivers:
    """Where production notifications go. Secrets are files in ``secrets_dir``, never values."""

    secrets_dir: str = "/etc/alertmanager/secrets"
    slack_channel: str = "#llm-alerts"
    email_to: str = "team@example.com"
    email_from: str = "alerts@example.com"
    smtp_smarthost: str = "smtp.example.com:587"
    smtp_username: str = "alerts@example.com"


def _check_sink_url(sink_url: str) -> str:
    parts = urlsplit(sink_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LabError(
            f"sink_url must be an http(s) URL such as http://127.0.0.1:9097, got {sink_url!r}"
        )
    return sink_url.rstrip("/")


def render_alertmanager_config(
    out_path: Path,
    *,
    sink_url: str,
    lab: bool,
    receivers: Literal["sink", "production"] = "sink",
    production: ProductionReceivers | None = None,
    stack_dir: Path | None = None,
) -> Path:
    """Write Alertmanager's config to ``out_path`` and return it.

    ``lab`` shortens grouping waits (1s/2s instead of the seed's 10s/10s) so a
    notification reaches its receiver within seconds. ``receivers="sink"``
    (the default) sends every receiver to the notification sink at ``sink_url``
    (``/hook/<receiver>``); ``"production"`` renders PagerDuty, Slack and email
    receivers that read their secrets from files (see :class:`ProductionReceivers`).
    """
    context: dict[str, object] = {"lab": bool(lab)}
    if receivers == "sink":
        template = "alertmanager/alertmanager.yml.j2"
        context["sink_url"] = _check_sink_url(sink_url)
    elif receivers == "production":
        template = "alertmanager/alertmanager.production.yml.j2"
        context.update(vars(production or ProductionReceivers()))
    else:
        raise LabError(f"receivers must be 'sink' or 'production', got {receivers!r}")
    # Template names are relative to stack/, as in labkit.runtime.templates.
    return render_file(template, [stack_dir or default_stack_dir()], Path(out_path), context)
