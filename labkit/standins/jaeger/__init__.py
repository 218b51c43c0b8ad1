"""labkit's Jaeger-compatible stand-in: OTLP/HTTP in, Jaeger query HTTP API out.

Run it with ``python -m labkit.standins.jaeger --data-dir DIR`` or, from Python,
``JaegerStandin(DIR, otlp_port=0, query_port=0).start()``.
"""

from __future__ import annotations

from .app import create_otlp_app, create_query_app
from .server import JaegerStandin
from .store import Store

__all__ = ["JaegerStandin", "Store", "create_otlp_app", "create_query_app"]
