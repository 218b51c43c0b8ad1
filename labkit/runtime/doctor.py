"""``labkit doctor``: check that this machine can run the lab, and say what to fix."""

from __future__ import annotations

import shutil
import sys

from labkit.config import LabConfig
from labkit.errors import PortInUse
from labkit.runtime import catalog
from labkit.runtime.process import check_port_free, is_alive
from labkit.runtime.state import LabState

__all__ = ["run_doctor"]


def run_doctor(config: LabConfig) -> int:
    """Print one line per check; return 0 when nothing needs fixing."""
    from labkit.runtime.local import _find
    from labkit.runtime.model import default_model_path

    problems = 0

    def report(ok: bool, what: str, fix: str = "") -> None:
        nonlocal problems
        problems += not ok
        print(f"  {'ok ' if ok else 'FIX'}  {what}" + ("" if ok else f"\n       -> {fix}"))

    print("labkit doctor")
    report(sys.version_info >= (3, 11), f"python {sys.version.split()[0]}",
           "labkit needs Python 3.11 or newer")
    for spec in catalog.all_services():
        for launch in spec.launches:
            if launch.binary:
                path = _find(launch.binary)
                alternative = len(spec.launches) > 1
                ok = path is not None or spec.optional or alternative
                note = str(path) if path else ("not installed; labkit's stand-in is used"
                                               if alternative else "not installed")
                report(ok, f"{spec.name:<13} {launch.binary}: {note}",
                       "run `labkit install` (or `make lab`)")
    model = config.model or default_model_path()
    report(model.exists(), f"model {model}", "run `labkit install` to generate the tiny model")
    state = LabState.load(config.state_file)
    running = {n for n, s in (state.services.items() if state else [])
               if is_alive(s.pid, s.create_time)}
    for spec in catalog.all_services():
        for port in spec.ports.values():
            port = config.port(port)
            if spec.name in running:
                continue
            try:
                check_port_free(spec.name, config.host, port)
                report(True, f"port {port} free for {spec.name}")
            except PortInUse as exc:
                report(False, f"port {port} busy for {spec.name}", str(exc))
    free_gb = shutil.disk_usage(config.run_dir.parent if not config.run_dir.exists()
                                else config.run_dir).free / 1e9 if config.run_dir.parent.exists() \
        else float("nan")
    report(not free_gb < 1, f"{free_gb:.1f} GB free for {config.run_dir}",
           "free some disk space: the lab needs about 1 GB")
    if running:
        print(f"  lab running: {', '.join(sorted(running))}")
    print("all good" if not problems else f"{problems} thing(s) to fix")
    return 0 if not problems else 1
