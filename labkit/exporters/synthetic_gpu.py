"""A synthetic, DCGM-shaped GPU series set, backfilled into Prometheus where there is no GPU.

The lab runs on CPUs. So that GPU queries, panels and exercises have something real to
read, labkit writes one hour of made-up DCGM exporter series for two GPUs of a fictional
host and loads them into Prometheus's data directory with
``promtool tsdb create-blocks-from openmetrics``. Every series carries
``source="synthetic"`` (and ``job="nvidia-gpu"``, as the course's scrape job), so no one
can mistake it for a measurement.

The shapes are fixed (a seeded generator, values relative to the window's start), so a
query evaluated at the same offset into the window always gives the same answer:

* GPU 0 serves steadily: utilisation around 60 %, framebuffer around 70 % used;
* GPU 1 fills up: its framebuffer climbs from 55 % to 97 % used over the hour, crossing the
  GPUMemoryHigh threshold (95 %) in the last minutes, and runs hotter and hungrier.

The window ends ``GAP`` before the backfill, beyond Prometheus's 5-minute lookback, so the
synthetic series never reach an alert rule evaluated *now*.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabError
from labkit.exporters.gpu import FIELDS

__all__ = [
    "GAP_S",
    "STEP_S",
    "WINDOW_S",
    "SyntheticWindow",
    "backfill",
    "lab_ranges",
    "lab_window",
    "openmetrics",
    "read_window",
    "series",
    "value_at",
]

WINDOW_S = 3600
STEP_S = 15
GAP_S = 600
FB_TOTAL_MIB = 81559  # an 80 GB card
WINDOW_FILE = "synthetic-gpu.json"
GPUS = {
    "0": {"UUID": "GPU-5e1f0c2a-0000-4000-8000-000000000000", "pci_bus_id": "00000000:17:00.0"},
    "1": {"UUID": "GPU-5e1f0c2a-0000-4000-8000-000000000001", "pci_bus_id": "00000000:65:00.0"},
}
COMMON = {"job": "nvidia-gpu", "instance": "gpu-server1:9400", "Hostname": "gpu-server1",
          "modelName": "NVIDIA H100 80GB HBM3 (synthetic)", "source": "synthetic"}


@dataclass(frozen=True)
class SyntheticWindow:
    """Where the synthetic series lie in time (Unix seconds, inclusive)."""

    start: float
    end: float

    def at(self, offset_s: float) -> float:
        """The instant ``offset_s`` seconds into the window."""
        return self.start + offset_s


def _wobble(gpu: int, step: int, period: float, phase: float) -> float:
    return math.sin(2 * math.pi * step / period + phase + gpu)


def value_at(field: str, gpu: str, step: int) -> float:
    """The synthetic value of ``field`` for ``gpu`` at ``step`` (0 .. WINDOW_S / STEP_S)."""
    g, frac = int(gpu), step / (WINDOW_S / STEP_S)
    if g == 0:
        used = 0.70 + 0.04 * _wobble(g, step, 37, 0.3)
        util = 60 + 15 * _wobble(g, step, 23, 1.1) + 5 * _wobble(g, step, 7, 0.0)
    else:
        used = 0.55 + 0.42 * frac + 0.005 * _wobble(g, step, 11, 0.0)
        util = 35 + 50 * frac + 8 * _wobble(g, step, 19, 2.0)
    used_mib = round(FB_TOTAL_MIB * min(used, 0.995))
    values = {
        "DCGM_FI_DEV_GPU_UTIL": round(min(max(util, 0), 100)),
        "DCGM_FI_DEV_MEM_COPY_UTIL": round(min(max(util * 0.6, 0), 100)),
        "DCGM_FI_DEV_FB_USED": used_mib,
        "DCGM_FI_DEV_FB_FREE": FB_TOTAL_MIB - used_mib,
        "DCGM_FI_DEV_GPU_TEMP": round(38 + 0.4 * util + 3 * g),
        "DCGM_FI_DEV_POWER_USAGE": round(90 + 5.5 * util + 20 * g, 1),
    }
    return float(values[field])


def _labels(gpu: str) -> dict[str, str]:
    return {"gpu": gpu, "device": f"nvidia{gpu}", **GPUS[gpu], **COMMON}


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def series() -> Iterator[tuple[str, list[float]]]:
    """Every series as (selector, values at each step): promtool's input-series shape."""
    steps = WINDOW_S // STEP_S + 1
    for name in FIELDS:
        for gpu in GPUS:
            yield _selector(name, _labels(gpu)), [value_at(name, gpu, s) for s in range(steps)]


def openmetrics(start: float) -> str:
    """The series as OpenMetrics text with timestamps from ``start`` (what promtool reads)."""
    lines: list[str] = []
    for name, doc in FIELDS.items():
        lines += [f"# HELP {name} {doc} Synthetic: no GPU in this lab.", f"# TYPE {name} gauge"]
        for selector, values in series():
            if selector.startswith(name + "{"):
                lines += [f"{selector} {v:g} {start + i * STEP_S:.0f}"
                          for i, v in enumerate(values)]
    return "\n".join([*lines, "# EOF", ""])


def backfill(data_dir: Path, promtool: str = "promtool", now: float | None = None,
             meta_dir: Path | None = None) -> SyntheticWindow:
    """Write the synthetic blocks into Prometheus's ``data_dir`` once; returns the window.

    Idempotent: a second call finds ``WINDOW_FILE`` (in ``meta_dir``, default ``data_dir``)
    and returns the recorded window. Prometheus loads new blocks at start, or within a
    minute when it is running.
    """
    meta = Path(meta_dir or data_dir) / WINDOW_FILE
    existing = read_window(meta.parent)
    if existing is not None:
        return existing
    end = math.floor(((now or time.time()) - GAP_S) / STEP_S) * STEP_S
    window = SyntheticWindow(start=end - WINDOW_S, end=end)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-gpu-") as tmp:
        source = Path(tmp) / "dcgm.om"
        source.write_text(openmetrics(window.start))
        proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                               str(source), str(data_dir)], capture_output=True, text=True,
                              timeout=120, check=False)
    if proc.returncode != 0:
        raise LabError(f"promtool could not backfill the synthetic GPU series into {data_dir} "
                       f"(exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-1500:]}")
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"start": window.start, "end": window.end,
                                "source": "synthetic"}))
    return window


def read_window(meta_dir: Path) -> SyntheticWindow | None:
    """The window a previous :func:`backfill` recorded in ``meta_dir``, if any."""
    try:
        raw = json.loads((Path(meta_dir) / WINDOW_FILE).read_text())
    except (OSError, ValueError):
        return None
    return SyntheticWindow(start=float(raw["start"]), end=float(raw["end"]))


def lab_window(lab: object) -> SyntheticWindow | None:
    """The synthetic window of a local lab (None for a lab with a GPU, or a remote one)."""
    config = getattr(lab, "config", None)
    run_dir = getattr(config, "run_dir", None)
    return read_window(Path(run_dir) / "prometheus") if run_dir else None


def lab_ranges(lab: object) -> dict[str, tuple[float, float]]:
    """Per-dashboard time ranges for previews: the GPU dashboard on the synthetic window."""
    window = lab_window(lab)
    return {"gpu-dcgm": (window.start, window.end)} if window else {}
