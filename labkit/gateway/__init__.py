"""The instrumented OpenAI-compatible gateway in front of llama-server (the seed's llm-api)."""

from labkit.gateway.app import create_app
from labkit.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "create_app"]
