"""After ``apt-get install``: keep the package's daemons from starting at boot.

Debian's ``prometheus``, ``prometheus-alertmanager`` and ``prometheus-node-exporter``
ship systemd units that are enabled on install and listen on every interface
(``:9090``, ``:9093``, ``:9100``). labkit only wants the binaries: it runs its own
copies on 127.0.0.1. ``policy-rc.d`` keeps the daemons from starting during the
install; this disables their units so a reboot does not start them either.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import PurePosixPath

__all__ = ["disable_package_units", "package_units"]

UNIT_DIRS = ("/lib/systemd/system/", "/usr/lib/systemd/system/")
Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def package_units(package: str, run: Runner = _run) -> list[str]:
    """The systemd service and socket units a Debian package installed (``dpkg -L``)."""
    listing = run(["dpkg", "-L", package])
    if listing.returncode != 0:
        return []
    units = []
    for line in listing.stdout.splitlines():
        path = PurePosixPath(line.strip())
        if str(path).startswith(UNIT_DIRS) and path.suffix in (".service", ".socket"):
            units.append(path.name)
    return sorted(set(units))


def disable_package_units(package: str, progress: Callable[[str], object] = print,
                          run: Runner = _run) -> list[str]:
    """Disable (and stop) the package's units; returns the failures, each also reported.

    ``systemctl disable`` works without a running systemd (it edits the symlinks), so
    this also holds in containers; with no ``systemctl`` at all there is nothing to do.
    """
    if shutil.which("systemctl") is None and run is _run:
        return []
    failures = []
    for unit in package_units(package, run):
        result = run(["systemctl", "disable", "--now", unit])
        if result.returncode == 0:
            progress(f"disabled {unit} (labkit runs its own copy on 127.0.0.1)")
            continue
        # Without a running systemd, --now fails while the disable itself is done.
        fallback = run(["systemctl", "disable", unit])
        if fallback.returncode == 0:
            progress(f"disabled {unit} (labkit runs its own copy on 127.0.0.1)")
            continue
        why = (fallback.stderr or result.stderr).strip().splitlines()[-1:] or ["no output"]
        failures.append(f"{unit}: {why[0]}")
        progress(f"warning: could not disable {unit} ({why[0]}); it may start at boot and "
                 f"listen on every interface: systemctl disable --now {unit}")
    return failures
