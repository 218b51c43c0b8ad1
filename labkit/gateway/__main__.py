"""``python -m labkit.gateway``: run the gateway with uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from prometheus_client import disable_created_metrics

from labkit.config import LabConfig
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
    p.add_argument("--trace-sample-ratio", type=float, default=d.trace_sample_ratio,
                   help="fraction of new traces sampled (parent-based; default 1.0)")
    p.add_argument("--manual-server-span", action="store_true",
                   help="make the chat route's HTTP server span by hand instead of with the "
                        "FastAPI instrumentation (same span, less work per request)")
    p.add_argument("--usage-db", help="sqlite:///path or postgresql://... for cost tracking")
    p.add_argument("--environment", default=d.environment)
    p.add_argument("--admin-token-file", type=Path,
                   help="file holding the bearer token /admin/* requires ($LABKIT_ADMIN_TOKEN "
                        "otherwise; bound beyond loopback, /admin/* is off without one)")
    p.add_argument("--admin-open", action="store_true",
                   help="bound beyond loopback but published on loopback only (a container): "
                        "/admin/* needs no token unless one is set")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name to answer besides loopback names and --host; repeat")
    a = p.parse_args(argv)
    if not 0.0 <= a.trace_sample_ratio <= 1.0:
        p.error(f"--trace-sample-ratio must be between 0 and 1, got {a.trace_sample_ratio}")
    token = LabConfig.from_env().admin_token
    if a.admin_token_file is not None:
        try:
            token = a.admin_token_file.read_text().strip() or None
        except OSError as exc:
            p.error(f"cannot read --admin-token-file: {exc}")
    return GatewaySettings(
        upstream=a.upstream, host=a.host, port=a.port, model_name=a.model_name,
        extra_models=tuple(a.extra_models),
        max_concurrency=a.max_concurrency, max_queue=a.max_queue,
        context_per_request=a.context_per_request, upstream_timeout=a.upstream_timeout,
        log_file=a.log_file, log_prompts=a.log_prompts, otlp_endpoint=a.otlp_endpoint,
        tracing=not a.no_tracing, usage_db=a.usage_db, environment=a.environment,
        admin_token=token, allowed_hosts=tuple(a.allowed_host),
        trace_sample_ratio=a.trace_sample_ratio, manual_server_span=a.manual_server_span,
        admin_open=a.admin_open,
    )


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    disable_created_metrics()  # the *_created series only clutter the lab's queries
    # With a log file, stdout (the service log, never rotated) gets no second copy.
    setup_logging(settings.log_file, max_bytes=settings.log_max_bytes,
                  stdout=settings.log_file is None)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
