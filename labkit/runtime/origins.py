"""What each service runs: which program, which version, and where it came from.

``labkit doctor``, ``labkit status`` and the test log's header all print these lines, so a
reader sees at a glance whether Prometheus is a Go build of 3.16.0 or Debian's 2.42, and
whether Loki is the real server or labkit's stand-in.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from labkit.runtime.catalog import ServiceSpec
from labkit.runtime.versions import pinned_for

__all__ = ["Origin", "binary_version", "service_origin"]

_VERSION = re.compile(r"\bv?(\d+\.\d+\.\d+(?:[-+][\w.~+-]+)?)")

# Said wherever a Go-built Prometheus is reported: the build has no web UI assets.
NO_UI_NOTE = "Go build: no web UI (its assets are built with npm), the HTTP API is complete"


@dataclass(frozen=True)
class Origin:
    """One service's program: ``origin`` is path, release, go build, apt, stand-in or labkit."""

    service: str
    program: str
    version: str
    origin: str
    path: str = ""
    note: str = ""

    def line(self) -> str:
        where = f"  {self.path}" if self.path else ""
        note = f"  ({self.note})" if self.note else ""
        return f"{self.service:<14} {self.program:<14} {self.version:<14} {self.origin:<9}" \
               f"{where}{note}"


@lru_cache(maxsize=64)
def _version_of(path: str, mtime: float, args: tuple[str, ...]) -> str:
    try:
        result = subprocess.run([path, *args], capture_output=True, text=True, timeout=20,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (result.stdout + "\n" + result.stderr).strip()
    try:  # jaeger prints JSON on stdout, {"gitVersion": "v2.13.0", ...}, and a log line
        # naming its Go module's version (git-commit=v1.76.0) on stderr
        version = json.loads(result.stdout.strip()).get("gitVersion", "")
        if version:
            return str(version).lstrip("v")
    except (ValueError, AttributeError):
        pass
    match = _VERSION.search(text)
    return match.group(1) if match else "unknown"


def binary_version(path: Path, executable: str | None = None) -> str:
    """The version ``path`` reports about itself (``3.16.0``, ``2.42.0+ds``), or ``unknown``."""
    try:
        args = pinned_for(executable or path.name).version_args
    except KeyError:
        args = ("--version",)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return "unknown"
    return _version_of(str(path), mtime, args)


def service_origin(spec: ServiceSpec) -> Origin | None:
    """The program the local runtime would start for ``spec`` now, or None if there is none."""
    from labkit import __version__
    from labkit.runtime.local import _find
    from labkit.runtime.provision import locate

    for launch in spec.launches:
        if launch.module:
            stand_in = "stand-in" in (launch.label or "")
            return Origin(spec.name, "labkit", __version__,
                          "stand-in" if stand_in else "labkit", note=launch.module)
        assert launch.binary
        if launch.binary == "llama-server":
            path = _find(launch.binary)
            if path:
                from labkit.runtime.llama_build import LLAMA_CPP_PYTHON_VERSION, cached_llama_server

                built = path == cached_llama_server()
                return Origin(spec.name, "llama-server",
                              f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}" if built else "",
                              "build" if built else "path", str(path))
            continue
        found = locate(launch.binary)
        if found is None:
            continue
        version = binary_version(found.path, launch.binary)
        note = NO_UI_NOTE if launch.binary == "prometheus" and found.origin == "go build" else ""
        return Origin(spec.name, launch.binary, version, found.origin, str(found.path), note)
    return None
