"""The CPU and memory of one lab service's process (llama-server by default), for Prometheus.

llama-server's ``--metrics`` say nothing about the process itself. This exporter reads the
pid of a running lab service from the lab's state file at every scrape (so a restarted
service is followed) and serves prometheus_client's standard process metrics for it:
``process_cpu_seconds_total``, ``process_resident_memory_bytes``,
``process_virtual_memory_bytes``, ``process_open_fds``, ``process_start_time_seconds``.
Prometheus scrapes it as job ``llama-server-process``.

    python -m labkit.exporters.process --state-file RUN/state.json --service llama-server
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector

from labkit.runtime.state import LabState

__all__ = ["main", "process_registry", "service_pid"]


def service_pid(state_file: Path, service: str) -> int:
    """The pid of ``service`` in the state file; 0 when it is not running (no samples then)."""
    state = LabState.load(state_file)
    svc = state.services.get(service) if state else None
    return svc.pid if svc else 0


def process_registry(state_file: Path, service: str = "llama-server",
                     proc_root: str = "/proc") -> CollectorRegistry:
    """A registry whose process metrics describe ``service``'s process (Linux /proc)."""
    registry = CollectorRegistry()
    ProcessCollector(namespace="", pid=lambda: service_pid(state_file, service),
                     proc=proc_root, registry=registry)
    return registry


def main(argv: Sequence[str] | None = None) -> int:
    from labkit.exporters.serve import serve_forever

    p = argparse.ArgumentParser(description="serve one lab service's process metrics")
    p.add_argument("--state-file", type=Path, required=True)
    p.add_argument("--service", default="llama-server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9256)
    args = p.parse_args(argv)
    serve_forever(process_registry(args.state_file, args.service), args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
