"""``python -m labkit.standins.loki --host 127.0.0.1 --port 3100 --data-dir DIR``."""

from __future__ import annotations

import argparse

from labkit.standins.loki.app import serve


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m labkit.standins.loki",
        description="labkit's Loki-compatible log store (push + LogQL query API)",
    )
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=3100, help="port to listen on (default 3100)")
    ap.add_argument("--data-dir", required=True, help="directory holding the stored log entries")
    args = ap.parse_args(argv)
    serve(args.host, args.port, args.data_dir)


if __name__ == "__main__":
    main()
