"""``python -m labkit.standins.loki --host 127.0.0.1 --port 3100 --data-dir DIR [--fsync]
[--allowed-host NAME] [--query-timeout 60]``."""

from __future__ import annotations

import argparse

from labkit.standins.loki.app import serve
from labkit.standins.loki.limits import QueryLimits


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m labkit.standins.loki",
        description="labkit's Loki-compatible log store (push + LogQL query API)",
    )
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=3100, help="port to listen on (default 3100)")
    ap.add_argument("--data-dir", required=True, help="directory holding the stored log entries")
    ap.add_argument("--fsync", action="store_true",
                    help="fsync every push before acknowledging it (survives power loss, "
                         "slower); without it an acknowledged push survives a crash of the "
                         "server, not of the machine")
    ap.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                    help="also accept this Host name (e.g. loki:3100 in a compose network); "
                         "127.0.0.1, localhost and [::1] are always accepted")
    ap.add_argument("--query-timeout", type=float, default=60.0, metavar="SECONDS",
                    help="time budget of one query (Loki's query_timeout, default 60)")
    args = ap.parse_args(argv)
    serve(args.host, args.port, args.data_dir, fsync=args.fsync,
          allowed_hosts=args.allowed_host, limits=QueryLimits(timeout_s=args.query_timeout))


if __name__ == "__main__":
    main()
