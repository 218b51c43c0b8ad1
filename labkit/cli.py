"""The ``labkit`` command: install, up, down, status, logs, doctor, load, release."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from labkit.config import LabConfig
from labkit.errors import LabError

__all__ = ["main"]


def _config(args: argparse.Namespace) -> LabConfig:
    cfg = LabConfig.from_env()
    if getattr(args, "model", None):
        cfg = cfg.with_(model=Path(args.model).resolve())
    return cfg


def cmd_install(args: argparse.Namespace) -> int:
    from labkit.runtime.install import install_all
    from labkit.runtime.llama_build import ensure_llama_server
    from labkit.runtime.model import ensure_model

    cfg = _config(args)
    install_all(from_source=args.from_source)
    print(f"{'llama-server':<14} {ensure_llama_server()}")
    model = ensure_model(cfg.model)
    print(f"{'model':<14} {model}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from labkit.runtime.local import LocalRuntime

    cfg = _config(args)
    t0 = time.monotonic()
    print(f"labkit: starting the lab in {cfg.run_dir}")
    LocalRuntime(cfg).up(args.services or None)
    print(f"labkit: ready in {time.monotonic() - t0:.1f}s. `labkit status` shows it; "
          "`labkit down` stops it.")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from labkit.runtime.local import LocalRuntime

    LocalRuntime(_config(args)).down()
    return 0


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def cmd_status(args: argparse.Namespace) -> int:
    from labkit.runtime.local import LocalRuntime

    rows = LocalRuntime(_config(args)).status()
    if not rows:
        print("no lab is running (start one with `labkit up`)")
        return 1
    print(f"{'SERVICE':<14} {'URL':<26} {'HEALTH':<22} {'PID':>7}  {'UPTIME':>7}  LAUNCH")
    for r in rows:
        print(f"{r.service:<14} {r.url or '-':<26} {r.health:<22} {r.pid or '-':>7}  "
              f"{_uptime(r.uptime_s):>7}  {r.launch}")
    return 0 if all(r.health in ("healthy", "up") for r in rows) else 1


def cmd_logs(args: argparse.Namespace) -> int:
    from labkit.runtime import catalog
    from labkit.runtime.process import log_tail

    cfg = _config(args)
    catalog.get(args.service)  # a clear error for an unknown name
    path = cfg.run_dir / "services" / f"{args.service}.log"
    if not path.exists():
        print(f"no log for {args.service} at {path}; has it been started?", file=sys.stderr)
        return 1
    print(log_tail(path, args.lines))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from labkit.runtime.doctor import run_doctor

    return run_doctor(_config(args))


def cmd_load(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from labkit.load.cli import main as load_main

    argv = list(rest)
    if "--url" not in argv:
        from labkit.lab import connect

        argv = ["--url", connect().gateway_url, *argv]
    return load_main(argv)


def cmd_release(args: argparse.Namespace) -> int:
    from labkit.exercises.release import release_notebook

    out = Path(args.out)
    for src in args.notebooks:
        dest = release_notebook(Path(src), out / Path(src).name)
        print(f"{src} -> {dest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labkit", description="LLM observability lab")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("install", help="install binaries, build llama-server, make the model")
    s.add_argument("--model", help="use this GGUF instead of the generated tiny model")
    s.add_argument("--from-source", action="store_true",
                   help="build Prometheus, Alertmanager, node exporter and Jaeger from their "
                        "Go modules at the pinned versions (needs `go`)")
    s = sub.add_parser("up", help="start the lab (idempotent)")
    s.add_argument("services", nargs="*", help="only these services (default: all)")
    s.add_argument("--model", help="serve this GGUF instead of the generated tiny model")
    sub.add_parser("down", help="stop everything the lab started")
    sub.add_parser("status", help="service, URL, health, pid, uptime")
    s = sub.add_parser("logs", help="the last lines of a service's log")
    s.add_argument("service")
    s.add_argument("-n", "--lines", type=int, default=50)
    sub.add_parser("doctor", help="check this machine can run the lab, and say what to fix")
    sub.add_parser("load", help="generate load on the gateway (see `labkit load --help`)",
                   add_help=False)
    s = sub.add_parser("release", help="write student copies of notebooks without solutions")
    s.add_argument("notebooks", nargs="+")
    s.add_argument("--out", default="release")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["load"]:
        args, rest = parser.parse_known_args(argv[:1])[0], argv[1:]
    else:
        args, rest = parser.parse_args(argv), []
    handlers = {"install": cmd_install, "up": cmd_up, "down": cmd_down, "status": cmd_status,
                "logs": cmd_logs, "doctor": cmd_doctor, "release": cmd_release}
    try:
        if args.command == "load":
            return cmd_load(args, rest)
        return handlers[args.command](args)
    except LabError as exc:
        print(f"labkit {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
