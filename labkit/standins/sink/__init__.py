"""labkit's notification sink: the webhook every lab receiver of Alertmanager posts to.

It stands in for PagerDuty, Slack and email in the lab: each notification is stored durably
(SQLite) and listed back as JSON, so a notebook can show who would have been paged.
Run it with ``python -m labkit.standins.sink --port 9097 --data-dir DIR`` or, from Python,
serve ``create_app(DIR)`` with any ASGI server.
"""

from __future__ import annotations

from .app import create_app
from .store import NotificationStore, PayloadError, parse_payload

__all__ = ["NotificationStore", "PayloadError", "create_app", "parse_payload"]
