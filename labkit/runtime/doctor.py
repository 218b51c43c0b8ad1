"""``labkit doctor``: check that this machine can run the lab, and say what to fix."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable

from labkit.config import LabConfig
from labkit.errors import PortInUse
from labkit.runtime import catalog
from labkit.runtime.catalog import ServiceSpec
from labkit.runtime.origins import NO_UI_NOTE, service_origin
from labkit.runtime.process import check_port_free, is_alive
from labkit.runtime.state import LabState, ServiceState
from labkit.runtime.versions import pinned_for

__all__ = ["run_doctor"]


def _report_service(spec: ServiceSpec, running: ServiceState | None,
                    report: Callable[..., None]) -> None:
    """One line per service: what runs (or would run), its version and where it came from."""
    origin = service_origin(spec)
    if running is not None and running.origin:
        note = f"  ({NO_UI_NOTE})" if spec.name == "prometheus" and \
            running.origin == "go build" else ""
        report(True, f"{spec.name:<14} {running.launch:<14} {running.version:<14} "
                     f"{running.origin:<9}  running, pid {running.pid}{note}")
    elif origin is None:
        binary = spec.launches[0].binary
        report(spec.optional, f"{spec.name:<14} {binary}: not installed"
               + (" (optional)" if spec.optional else ""), "run `labkit install`")
        return
    else:
        report(True, origin.line())
    if origin is None:
        return
    real = next((launch.binary for launch in spec.launches if launch.binary), None)
    if origin.origin == "stand-in" and real:
        entry = pinned_for(real)
        how = "`labkit install` downloads its release (needs internet)"
        if entry.go:
            how = "`labkit install` builds it with Go"
        print(f"       stand-in: real {real} {entry.version} is not installed; {how}")
    elif origin.origin == "apt" and real:
        entry = pinned_for(real)
        print(f"       Debian's {origin.version}; labkit pins {entry.version}: "
              "`labkit install` downloads or builds it")


class Checklist:
    """``labkit doctor``'s lines: call it once per check; it counts what needs fixing."""

    def __init__(self) -> None:
        self.problems = 0

    def __call__(self, ok: bool, what: str, fix: str = "") -> None:
        self.problems += not ok
        print(f"  {'ok ' if ok else 'FIX'}  {what}" + ("" if ok else f"\n       -> {fix}"))

    def verdict(self) -> int:
        """Print the summary line; the exit status (0 when nothing needs fixing)."""
        print("all good" if not self.problems else f"{self.problems} thing(s) to fix")
        return 0 if not self.problems else 1


def run_doctor(config: LabConfig) -> int:
    """Print one line per check; return 0 when nothing needs fixing."""
    from labkit.runtime.model import default_model_path

    report = Checklist()
    print("labkit doctor")
    report(sys.version_info >= (3, 11), f"python {sys.version.split()[0]}",
           "labkit needs Python 3.11 or newer")
    state = LabState.load(config.state_file)
    running = {n: s for n, s in (state.services.items() if state else [])
               if is_alive(s.pid, s.create_time)}
    print("       service        program        version        origin")
    for spec in catalog.all_services():
        _report_service(spec, running.get(spec.name), report)
    model = config.model or default_model_path()
    report(model.exists(), f"model {model}", "run `labkit install` to generate the tiny model")
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
    return report.verdict()
