"""``python -m labkit.gateway``: run the gateway with uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from prometheus_client import disable_created_metrics

from labkit.gateway.app import create_app
from labkit.gateway.logs import setup_logging
from labkit.gateway.settings import GatewaySettings


def parse_args(argv: list[str] | None = None) -> GatewaySettings:
    p = argparse.ArgumentParser(prog="python -m labkit.gateway", description=__doc__)
    d = GatewaySettings()
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--upstream", default=d.upstream, help="llama-server base URL")
    p.add_argument("--model-name", default=d.model_name)
    p.add_argument("--extra-model", action="append", default=[], dest="extra_models",
                   help="another model name served by the same upstream (repeatable)")
    p.add_argument("--max-concurrency", type=int, default=d.max_concurrency)
    p.add_argument("--max-queue", type=int, default=d.max_queue)
    p.add_argument("--context-per-request", type=int, default=d.context_per_request)
    p.add_argument("--upstream-timeout", type=float, default=d.upstream_timeout)
    p.add_argument("--log-file", type=Path)
    p.add_argument("--log-prompts", action="store_true", help="log prompts (off by default)")
    p.add_argument("--otlp-endpoint", help="OTLP/HTTP base URL, e.g. http://127.0.0.1:4318")
    p.add_argument("--no-tracing", action="store_true",
                   help="make no spans at all (a baseline to measure tracing overhead)")
    p.add_argument("--usage-db", help="sqlite:///path or postgresql://... for cost tracking")
    p.add_argument("--environment", default=d.environment)
    a = p.parse_args(argv)
    return GatewaySettings(
        upstream=a.upstream, host=a.host, port=a.port, model_name=a.model_name,
        extra_models=tuple(a.extra_models),
        max_concurrency=a.max_concurrency, max_queue=a.max_queue,
        context_per_request=a.context_per_request, upstream_timeout=a.upstream_timeout,
        log_file=a.log_file, log_prompts=a.log_prompts, otlp_endpoint=a.otlp_endpoint,
        tracing=not a.no_tracing, usage_db=a.usage_db, environment=a.environment,
    )


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    disable_created_metrics()  # the *_created series only clutter the lab's queries
    setup_logging(settings.log_file)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
