"""``python -m labkit.standins.jaeger --otlp-port 4318 --query-port 16686 --data-dir DIR``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from labkit.errors import LabError

from .server import JaegerStandin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.standins.jaeger",
        description="labkit's Jaeger-compatible server: OTLP/HTTP in, Jaeger query API out.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--otlp-port", type=int, default=4318, help="OTLP/HTTP port (default 4318)")
    parser.add_argument(
        "--query-port", type=int, default=16686, help="query API port (default 16686)"
    )
    parser.add_argument("--data-dir", required=True, help="directory for the span database")
    parser.add_argument(
        "--max-traces",
        type=int,
        default=None,
        help="keep at most this many traces, dropping the oldest (default: no cap)",
    )
    args = parser.parse_args(argv)
    if args.max_traces is not None and args.max_traces < 1:
        parser.error(f"--max-traces must be at least 1, got {args.max_traces}")

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    standin = JaegerStandin(
        args.data_dir,
        host=args.host,
        otlp_port=args.otlp_port,
        query_port=args.query_port,
        max_traces=args.max_traces,
    )
    try:
        standin.start()
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"jaeger stand-in: OTLP/HTTP on {standin.otlp_url}/v1/traces, "
        f"query API on {standin.query_url}/api, data in {args.data_dir}",
        flush=True,
    )
    try:
        while not done.wait(0.5):
            if standin._thread is None or not standin._thread.is_alive():
                print("error: the server stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
