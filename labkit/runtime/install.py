"""``labkit install``: every upstream binary of the stack, in provisioning order.

Prometheus (with promtool) and Alertmanager (with amtool) are required. node exporter,
Jaeger, Loki and Alloy are optional: where none can be had, the local runtime runs labkit's
stand-in (Jaeger, Loki) or its file tailer (Alloy). Each line says what was installed, its
version, its origin and how long it took.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from labkit.errors import LabError
from labkit.runtime.origins import binary_version
from labkit.runtime.provision import ensure_binary, locate
from labkit.runtime.versions import pinned_for

__all__ = ["OPTIONAL", "REQUIRED", "install_all"]

REQUIRED = ("prometheus", "promtool", "alertmanager", "amtool")
# executable -> what the lab does without it
OPTIONAL = {
    "node_exporter": "no host metrics",
    "jaeger": "labkit's Jaeger stand-in is used",
    "loki": "labkit's Loki stand-in is used",
    "alloy": "labkit's file tailer ships the logs",
}
# Grafana's release (PINNED["grafana"], same download mechanism) is fetched by
# labkit.runtime.grafana, which also renders its provisioning.


def install_all(*, from_source: bool = False, progress: Callable[[str], object] = print,
                names: tuple[str, ...] | None = None) -> dict[str, float]:
    """Install every binary (or only ``names``); return the seconds each one took.

    A required binary that cannot be installed raises; an optional one prints what the
    lab does without it.
    """
    timings: dict[str, float] = {}
    for name in names or (*REQUIRED, *OPTIONAL):
        t0 = time.monotonic()
        source = from_source and pinned_for(name).go is not None
        try:
            ensure_binary(name, from_source=source, progress=progress)
        except LabError as exc:
            if name not in OPTIONAL:
                raise
            progress(f"{name:<14} skipped: {OPTIONAL[name]} "
                     f"({str(exc).splitlines()[0]})")
            continue
        timings[name] = seconds = time.monotonic() - t0
        found = locate(name)
        assert found is not None
        progress(f"{name:<14} {binary_version(found.path, name):<12} {found.origin:<9} "
                 f"{seconds:6.1f}s  {found.path}")
    return timings
