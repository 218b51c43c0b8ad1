"""``python -m labkit.shipper``: run the shipper until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from labkit.durations import parse_duration as _parse_duration
from labkit.shipper.entries import parse_labels
from labkit.shipper.shipper import Shipper


def parse_duration(text: str) -> float:
    """Seconds in ``1s``, ``500ms``, ``2m`` or a bare number of seconds."""
    bare = text.strip()
    try:
        if bare.replace(".", "", 1).isdigit():
            return float(bare)
        return _parse_duration(bare, units=("ms", "s", "m"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad duration {text!r}: write e.g. 1s, 500ms or 2m") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m labkit.shipper",
        description="Tail JSON log files and push them to Loki (labels: --label ones + level).")
    p.add_argument("--path", required=True,
                   help="glob of the files to tail, quoted, e.g. 'run/logs/gateway.log*'")
    p.add_argument("--loki-url", required=True, help="Loki base URL, e.g. http://127.0.0.1:3100")
    p.add_argument("--positions", required=True, help="positions file (JSON), created if absent")
    p.add_argument("--label", action="append", default=[], metavar="K=V",
                   help="static label for every line; repeat for more (default job=llm-api)")
    p.add_argument("--batch-size", type=int, default=1000, help="most lines per push (1000)")
    p.add_argument("--batch-wait", type=parse_duration, default=1.0,
                   help="longest wait before pushing a partial batch (1s)")
    p.add_argument("--max-backoff", type=parse_duration, default=30.0,
                   help="longest wait between retries while Loki is down (30s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shipper in the foreground; exit 0 on a signal, 1 if it failed."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        labels = parse_labels(args.label or ["job=llm-api"])
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s shipper %(levelname)s %(message)s")
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        shipper = Shipper(args.path, args.loki_url, positions=args.positions, labels=labels,
                          batch_size=args.batch_size, batch_wait=args.batch_wait,
                          max_backoff=max(args.max_backoff, 0.5))
        shipper.start()
    except ValueError as exc:
        print(f"shipper: {exc}", file=sys.stderr)
        return 2
    while not stopping.wait(0.5) and shipper.running:
        pass
    shipper.stop()
    return 1 if shipper.error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
