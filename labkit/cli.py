"""The ``labkit`` command: install, up, down, status, logs, doctor, load, release, lab, grade,
dashboards, compose, clean, incident."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from labkit.config import LabConfig
from labkit.errors import LabError

if TYPE_CHECKING:
    from labkit.incident import IncidentRecord

__all__ = ["main"]


def _config(args: argparse.Namespace) -> LabConfig:
    cfg = LabConfig.from_env()
    if getattr(args, "model", None):
        cfg = cfg.with_(model=Path(args.model).resolve())
    if getattr(args, "runtime", None):
        cfg = cfg.with_(runtime=args.runtime)
    return cfg


def cmd_install(args: argparse.Namespace) -> int:
    from labkit.runtime.install import install_all
    from labkit.runtime.llama_build import ensure_llama_server
    from labkit.runtime.model import ensure_model

    cfg = _config(args)
    install_all(from_source=args.from_source)
    if getattr(args, "grafana", False):
        from labkit.runtime.grafana import ensure_grafana

        print(f"{'grafana':<14} {ensure_grafana()}")
    print(f"{'llama-server':<14} {ensure_llama_server()}")
    model = ensure_model(cfg.model)
    print(f"{'model':<14} {model}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from labkit.runtime.select import make_runtime, runtime_name

    cfg = _config(args)
    t0 = time.monotonic()
    print(f"labkit: starting the lab in {cfg.run_dir} ({runtime_name(cfg)} runtime)")
    make_runtime(cfg).up(args.services or None)
    print(f"labkit: ready in {time.monotonic() - t0:.1f}s. `labkit status` shows it; "
          "`labkit down` stops it.")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from labkit.runtime.docker import DockerRuntime
    from labkit.runtime.select import make_runtime

    runtime = make_runtime(_config(args))
    if isinstance(runtime, DockerRuntime):
        runtime.down(volumes=args.volumes)
    else:
        if args.volumes:
            print("labkit down: --volumes is for the docker runtime; the local lab keeps its "
                  f"data in {runtime.config.run_dir / 'data'}", file=sys.stderr)
            return 2
        runtime.down()
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from labkit.runtime.docker import DockerRuntime

    removed = DockerRuntime(_config(args)).clean()
    print(f"labkit clean: removed {removed} container(s), network(s) and volume(s) "
          "labelled by labkit")
    return 0


def cmd_compose(args: argparse.Namespace) -> int:
    from labkit.runtime.compose import write_compose

    cfg = _config(args)
    path, changed = write_compose(Path(args.out), cfg, check=args.check)
    if args.check:
        if changed:
            print(f"{path} is out of date with the catalog: run `labkit compose`",
                  file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    print(f"wrote {path}" if changed else f"{path} is up to date", end="; ")
    print(f"configs rendered into {path.parent / 'compose'}")
    return 0


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def cmd_status(args: argparse.Namespace) -> int:
    from labkit.runtime.select import make_runtime

    rows = make_runtime(_config(args)).status()
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
    from labkit.runtime.select import runtime_name

    if runtime_name(cfg) == "docker":
        from labkit.runtime.docker import DockerRuntime

        print(DockerRuntime(cfg).logs(args.service, args.lines))
        return 0
    path = cfg.run_dir / "services" / f"{args.service}.log"
    if not path.exists():
        print(f"no log for {args.service} at {path}; has it been started?", file=sys.stderr)
        return 1
    print(log_tail(path, args.lines))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from labkit.runtime.select import runtime_name

    cfg = _config(args)
    if runtime_name(cfg) == "docker":
        from labkit.runtime.docker_doctor import run_docker_doctor

        return run_docker_doctor(cfg)
    from labkit.runtime.doctor import run_doctor

    return run_doctor(cfg)


def cmd_load(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from labkit.load.cli import main as load_main

    argv = list(rest)
    if "--url" not in argv:
        from labkit.lab import connect

        argv = ["--url", connect().gateway_url, *argv]
    return load_main(argv)


def cmd_release(args: argparse.Namespace) -> int:
    from labkit.exercises.release import release_notebook, release_work

    out = Path(args.out)
    if args.keep_existing:
        created, kept = release_work([Path(s) for s in args.notebooks], out)
        for dest in created:
            print(f"new student copy: {dest}")
        if kept:
            print(f"kept {len(kept)} existing copies in {out} (your answers are never "
                  "overwritten)")
        return 0
    for src in args.notebooks:
        dest = release_notebook(Path(src), out / Path(src).name)
        print(f"{src} -> {dest}")
    return 0


def _source_notebooks(folder: str) -> list[Path]:
    found = sorted(Path(folder).glob("[0-9]*.ipynb"))
    if not found:
        raise LabError(f"no lab notebooks in {folder}/ (expected 01-metrics.ipynb, ...): "
                       "run this from the labkit checkout or pass --notebooks")
    return found


def cmd_lab(args: argparse.Namespace) -> int:
    import os
    import shutil

    from labkit.exercises.release import release_work

    work = Path(args.work)
    created, kept = release_work(_source_notebooks(args.notebooks), work)
    print(f"labkit lab: {len(created)} new student copies, {len(kept)} kept, in {work}/ "
          "(your answers are never overwritten)")
    if args.no_open:
        return 0
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    cmd = [jupyter, "lab", "--ip", "127.0.0.1", "--port", str(args.port), "--no-browser",
           f"--ServerApp.root_dir={work}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    os.execv(jupyter, cmd)
    return 0  # not reached


def cmd_grade(args: argparse.Namespace) -> int:
    from labkit.grading import GradeSettings, grade

    params: dict[str, object] = {}
    for key, value in args.param:
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    settings = GradeSettings(sources=Path(args.notebooks), jobs=args.jobs,
                             cell_timeout=args.cell_timeout, timeout=args.timeout,
                             memory_bytes=int(args.memory_gib * (1 << 30)), force=args.force,
                             parameters=params)
    try:
        rows = grade([Path(p) for p in args.submissions], Path(args.out), settings)
    except ValueError as exc:
        raise LabError(str(exc)) from None
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    print(f"graded {len(rows)} submissions ({', '.join(f'{n} {s}' for s, n in statuses.items())})"
          f": {Path(args.out) / 'grades.csv'}, feedback/, summary.png")
    return 0


def cmd_incident(args: argparse.Namespace) -> int:
    from labkit.incident import load_record, reset_all_faults, run_incident
    from labkit.lab import connect

    lab = connect(_config(args))
    if args.action == "stop":
        reset_all_faults(lab.gateway_url)
        print("labkit: every fault cleared")
        return 0
    if args.seed is None:
        print("give the learner id: --seed N", file=sys.stderr)
        return 2
    if args.action == "start":
        record = run_incident(args.seed, lab)
        print(f"incident run for seed {record.seed}: t0={record.t0:.3f} t1={record.t1:.3f} "
              f"({record.requests} requests); investigate it in notebooks/07-incident.ipynb")
        return 0
    try:
        record = load_record(args.seed, lab.config)
    except FileNotFoundError as exc:
        print(f"labkit incident: {exc}", file=sys.stderr)
        return 1
    print(f"seed {record.seed}: run from t0={record.t0:.3f} to t1={record.t1:.3f}, "
          f"{record.requests} requests")
    if args.reveal:  # for instructors: the seed's plan, the fix table, the sealed times
        print("  " + _reveal(record))
    return 0


def _reveal(record: IncidentRecord) -> str:
    """The answers of a run, for instructors (from the plan and the instructors' fix table)."""
    from labkit.incident import INCIDENTS, plan_incident

    plan = plan_incident(record.seed)
    table = Path(__file__).resolve().parent / "incident" / "fixes.json"
    fix = json.loads(table.read_text()).get(plan.category, "?") if table.exists() else \
        "? (fixes.json is only in the instructors' checkout)"
    seconds = range(0, int(record.t1 - record.t0) + 2)
    start, end = (next((f"{s}" for s in seconds if record.near(k, s, 0)), "?")
                  for k in ("start", "end"))
    return (f"{plan.category} ({INCIDENTS[plan.category].title}); model {plan.model}, "
            f"user {plan.user}; {start} s to {end} s after t0; fix {fix}; fault {plan.fault}")


def _runtime_option(parser: argparse.ArgumentParser) -> None:
    from labkit.config import RUNTIMES

    parser.add_argument("--runtime", choices=RUNTIMES,
                        help="local processes or docker containers (default: LABKIT_RUNTIME, "
                             "else the running lab's, else local)")


def _default_compose_path() -> Path:
    return Path(__file__).resolve().parents[1] / "stack" / "compose.yaml"


def cmd_dashboards(args: argparse.Namespace) -> int:
    from labkit import dashboards

    if args.action == "build":
        for path in dashboards.build_all(Path(args.out) if args.out else None):
            print(path)
        return 0
    if args.action == "check":
        from labkit.dashboards.build import out_of_sync

        stale = out_of_sync(Path(args.out) if args.out else None)
        if stale:
            print(f"out of date: {', '.join(stale)}; run `labkit dashboards build`",
                  file=sys.stderr)
            return 1
        print(f"{len(dashboards.DASHBOARDS)} dashboards match the code")
        return 0
    from labkit.exporters.synthetic_gpu import lab_ranges
    from labkit.lab import connect

    lab = connect()
    out = Path(args.out or "snapshots")
    for path in dashboards.snapshot(out, lab, start=args.start, ranges=lab_ranges(lab)):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labkit", description="LLM observability lab")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("install", help="install binaries, build llama-server, make the model")
    s.add_argument("--model", help="use this GGUF instead of the generated tiny model")
    s.add_argument("--from-source", action="store_true",
                   help="build Prometheus, Alertmanager, node exporter and Jaeger from their "
                        "Go modules at the pinned versions (needs `go`)")
    s.add_argument("--grafana", action="store_true",
                   help="also download the pinned Grafana OSS release (checksum-verified)")
    s = sub.add_parser("up", help="start the lab (idempotent)")
    s.add_argument("services", nargs="*", help="only these services (default: all)")
    s.add_argument("--model", help="serve this GGUF instead of the generated tiny model")
    _runtime_option(s)
    s = sub.add_parser("down", help="stop everything the lab started")
    s.add_argument("--volumes", action="store_true",
                   help="docker: also remove the named volumes (the lab's data)")
    _runtime_option(s)
    _runtime_option(sub.add_parser("status", help="service, URL, health, pid, uptime"))
    s = sub.add_parser("logs", help="the last lines of a service's log")
    s.add_argument("service")
    s.add_argument("-n", "--lines", type=int, default=50)
    _runtime_option(s)
    _runtime_option(sub.add_parser(
        "doctor", help="check this machine can run the lab, and say what to fix"))
    sub.add_parser("clean", help="docker: remove every container, network and volume "
                                 "labkit made on the engine (all labs)")
    s = sub.add_parser("compose", help="write stack/compose.yaml from the service catalog")
    s.add_argument("--out", default=str(_default_compose_path()))
    s.add_argument("--check", action="store_true",
                   help="exit 1 when the file differs from the catalog, writing nothing")
    sub.add_parser("load", help="generate load on the gateway (see `labkit load --help`)",
                   add_help=False)
    s = sub.add_parser("release", help="write student copies of notebooks without solutions")
    s.add_argument("notebooks", nargs="+")
    s.add_argument("--out", default="release")
    s.add_argument("--keep-existing", action="store_true",
                   help="only create copies that do not exist yet (never overwrite answers)")
    s = sub.add_parser("lab", help="make the student copies in work/ (once) and open JupyterLab")
    s.add_argument("--work", default="work", help="folder of student copies (default: work)")
    s.add_argument("--notebooks", default="notebooks", help="the source notebooks")
    s.add_argument("--port", type=int, default=8888)
    s.add_argument("--no-open", action="store_true", help="make the copies, start nothing")
    s = sub.add_parser("grade", help="execute submissions and score them (grades.csv)")
    s.add_argument("submissions", nargs="+", help="notebooks, or folders of notebooks")
    s.add_argument("--out", required=True, help="folder for grades.csv, feedback/, summary.png")
    s.add_argument("--jobs", "-j", type=int, default=1, help="submissions run in parallel")
    s.add_argument("--timeout", type=float, default=900, help="seconds per notebook")
    s.add_argument("--cell-timeout", type=float, default=300, help="seconds per cell")
    s.add_argument("--memory-gib", type=float, default=4, help="address-space limit of a kernel")
    s.add_argument("--force", action="store_true", help="grade again what is already graded")
    s.add_argument("--notebooks", default="notebooks", help="the source notebooks")
    s.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="a notebook parameter, e.g. -p LOAD_SECONDS 10")
    s = sub.add_parser("incident", help="the capstone's incidents (see notebooks/07-incident)")
    s.add_argument("action", choices=("start", "show", "stop"),
                   help="start: run the seed's incident now; show: its record; stop: clear faults")
    s.add_argument("--seed", type=int, help="the learner id, which picks the incident")
    s.add_argument("--reveal", action="store_true", help="show: include the answers (instructors)")
    s = sub.add_parser("dashboards", help="build the Grafana dashboards, check them, "
                       "or snapshot them to PNGs")
    s.add_argument("action", choices=("build", "check", "snapshot"),
                   help="build: write stack/grafana/dashboards/*.json from the code; "
                        "check: fail when they differ; snapshot: a PNG of each, from the lab")
    s.add_argument("--out", help="folder (build/check: the JSON; snapshot: the PNGs, "
                                 "default ./snapshots)")
    s.add_argument("--start", default="-30m", help="snapshot range start (default -30m)")
    return p


def _report(command: str, exc: Exception) -> None:
    """The error on one line, never a traceback; a tool's output or a service's log lines that
    the message carries follow it, indented, because they are what the reader acts on."""
    first, *details = str(exc).strip().splitlines() or [type(exc).__name__]
    print(f"labkit {command}: error: {first}", file=sys.stderr)
    for line in details:
        print(f"    {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["load"]:
        args, rest = parser.parse_known_args(argv[:1])[0], argv[1:]
    else:
        args, rest = parser.parse_args(argv), []
    handlers = {"install": cmd_install, "up": cmd_up, "down": cmd_down, "status": cmd_status,
                "logs": cmd_logs, "doctor": cmd_doctor, "release": cmd_release,
                "lab": cmd_lab, "grade": cmd_grade,
                "clean": cmd_clean, "compose": cmd_compose, "dashboards": cmd_dashboards}
    handlers["incident"] = cmd_incident
    try:
        if args.command == "load":
            return cmd_load(args, rest)
        return handlers[args.command](args)
    except (LabError, ValueError) as exc:  # ValueError: a bad value passed on from the command line
        _report(args.command, exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
