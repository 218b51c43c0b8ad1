"""Gateway settings: one frozen object, built from the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GatewaySettings"]


@dataclass(frozen=True)
class GatewaySettings:
    """How the gateway runs and where it sends things.

    ``max_concurrency`` requests go to llama-server at once; up to ``max_queue``
    more wait (that wait is ``llm_queue_depth``); beyond that a request gets 429.
    """

    upstream: str = "http://127.0.0.1:8081"
    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "labkit-tiny"
    max_concurrency: int = 4
    max_queue: int = 64
    context_per_request: int = 1024  # llama-server's ctx-size / parallel slots
    default_max_tokens: int = 64
    max_body_bytes: int = 1_000_000
    max_admin_body_bytes: int = 4096
    upstream_timeout: float = 60.0
    log_file: Path | None = None
    log_prompts: bool = False  # prompts are personal data: opt in
    log_max_bytes: int = 20_000_000
    otlp_endpoint: str | None = None  # e.g. http://127.0.0.1:4318 (OTLP/HTTP)
    trace_sample_ratio: float = 1.0  # new traces sampled; a caller's traceparent decides its own
    manual_server_span: bool = False  # the chat route's server span made by hand (faster)
    tracing: bool = True  # False: no spans, no instrumentation (the overhead baseline)
    usage_db: str | None = None  # sqlite:///path or postgresql://...
    service_version: str = "0.1.0"
    environment: str = "lab"
    extra_models: tuple[str, ...] = field(default_factory=tuple)
    admin_token: str | None = None  # required on /admin/* when set (and when bound beyond
    # loopback, where /admin/* stays off until one is set)
    admin_open: bool = False  # bound beyond loopback yet published on loopback (a container)
    allowed_hosts: tuple[str, ...] = ()  # Host names besides loopback and the bound address

    @property
    def models(self) -> tuple[str, ...]:
        return (self.model_name, *self.extra_models)
