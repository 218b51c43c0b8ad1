"""The state file: what a running lab started, where, and how to reach it."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["LabState", "ServiceState"]


@dataclass
class ServiceState:
    """One started service."""

    name: str
    url: str
    pid: int
    create_time: float
    started_at: float
    log: str
    launch: str
    endpoints: dict[str, str] = field(default_factory=dict)
    version: str = ""  # what the program reports, e.g. 3.16.0
    origin: str = ""  # path, release, go build, apt, build, stand-in or labkit
    container: str = ""  # the docker runtime's container name


@dataclass
class LabState:
    """Everything ``labkit up`` started; written to ``<run dir>/state.json``."""

    run_dir: str
    mode: str = "lab"
    slots: int = 4
    model: str = ""
    runtime: str = "local"  # which runtime started the lab: "local" or "docker"
    services: dict[str, ServiceState] = field(default_factory=dict)

    def urls(self) -> dict[str, str]:
        """Service name to base URL, plus ``name.endpoint`` keys for extra ports."""
        out: dict[str, str] = {}
        for svc in self.services.values():
            if svc.url:
                out[svc.name] = svc.url
            for key, url in svc.endpoints.items():
                out[f"{svc.name}.{key}"] = url
        return out

    def save(self, path: Path) -> None:
        """Write atomically, so a reader never sees half a file."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> LabState | None:
        """The saved state, or None when there is no (readable) state file."""
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict):
            return None
        services = {k: ServiceState(**_known(ServiceState, v, f"{path} services.{k}"))
                    for k, v in (raw.pop("services", None) or {}).items()}
        return cls(**_known(cls, raw, str(path)), services=services)


def _known(kind: type, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The keys a dataclass knows; others (a newer labkit's) are dropped with a warning."""
    names = {f.name for f in fields(kind)}
    unknown = sorted(set(raw) - names)
    if unknown:
        warnings.warn(f"{where}: ignoring keys this labkit does not know: {', '.join(unknown)} "
                      "(written by a newer labkit?)", RuntimeWarning, stacklevel=3)
    return {k: v for k, v in raw.items() if k in names}
