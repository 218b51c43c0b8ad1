"""``labkit load``: generate traffic from the command line and print the summary."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "labkit load") -> argparse.ArgumentParser:
    """The argument parser, separate so ``labkit.cli`` can mount it as a subcommand."""
    p = argparse.ArgumentParser(
        prog=prog, description="Send open-loop Poisson traffic to an OpenAI-compatible API.")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="base URL (default: gateway)")
    p.add_argument("--rate", type=float, default=5.0, help="requests per second (default 5)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of arrivals (default 30)")
    p.add_argument("--concurrency", type=int, default=16, help="max requests in flight")
    p.add_argument("--no-stream", dest="stream", action="store_false", help="disable streaming")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--model", default="labkit-tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    p.add_argument("--out", metavar="CSV", help="write one row per request to this CSV file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load and print its summary; exit 1 when no request succeeded."""
    from labkit.load.runner import generate_load  # keep `labkit --help` fast

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = generate_load(
            args.url, rate=args.rate, duration=args.duration, concurrency=args.concurrency,
            stream=args.stream, max_tokens=args.max_tokens, model=args.model, seed=args.seed,
            timeout=args.timeout, progress=not args.quiet,
        )
    except ValueError as exc:
        parser.error(str(exc))  # exits 2 with the usage line, like any bad flag
    print(result._summary_text())
    errors = result.frame["error"].dropna()
    if len(errors):
        print("most common errors:")
        print(errors.value_counts().head(3).to_string())
    if args.out:
        result.frame.to_csv(args.out, index=False)
        print(f"wrote {len(result.frame)} rows to {args.out}")
    return 0 if result.summary()["ok"] > 0 else 1
