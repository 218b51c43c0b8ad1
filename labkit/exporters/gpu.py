"""An NVML exporter that speaks the DCGM exporter's language: same metric names and labels.

NVIDIA's ``dcgm-exporter`` (the course runs it in docker with ``--gpus all`` on port 9400)
needs the DCGM host engine. Where only the driver is present, this exporter reads the same
fields through NVML (``nvidia-ml-py``) and serves them under DCGM's names, so queries,
dashboards and alerts work unchanged:

    DCGM_FI_DEV_GPU_UTIL      GPU utilization (in %)
    DCGM_FI_DEV_MEM_COPY_UTIL Memory utilization (in %)
    DCGM_FI_DEV_FB_USED       Framebuffer memory used (in MiB)
    DCGM_FI_DEV_FB_FREE       Framebuffer memory free (in MiB)
    DCGM_FI_DEV_GPU_TEMP      GPU temperature (in C)
    DCGM_FI_DEV_POWER_USAGE   Power draw (in W)

Labels as dcgm-exporter sets them: ``gpu`` (index), ``UUID``, ``pci_bus_id``, ``device``
(``nvidia0``), ``modelName``, ``Hostname``.

    python -m labkit.exporters.gpu --host 127.0.0.1 --port 9400
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["FIELDS", "NvmlCollector", "gpu_count", "main"]

MIB = 1024 * 1024
LABELS = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname")
FIELDS = {  # DCGM name: help text as dcgm-exporter's default counters file has it
    "DCGM_FI_DEV_GPU_UTIL": "GPU utilization (in %).",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "Memory utilization (in %).",
    "DCGM_FI_DEV_FB_USED": "Framebuffer memory used (in MiB).",
    "DCGM_FI_DEV_FB_FREE": "Framebuffer memory free (in MiB).",
    "DCGM_FI_DEV_GPU_TEMP": "GPU temperature (in C).",
    "DCGM_FI_DEV_POWER_USAGE": "Power draw (in W).",
}


def _nvml() -> Any:
    import pynvml  # nvidia-ml-py

    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_count(nvml: Any = None) -> int:
    """How many GPUs NVML sees; 0 when there is no driver, library or device."""
    try:
        nvml = nvml or _nvml()
        nvml.nvmlInit()
        try:
            return int(nvml.nvmlDeviceGetCount())
        finally:
            nvml.nvmlShutdown()
    except Exception:  # no libnvidia-ml, no driver, no device: all mean "no GPU"
        return 0


class NvmlCollector(Collector):
    """Reads every GPU's fields through NVML at each scrape."""

    def __init__(self, nvml: Any = None, hostname: str | None = None) -> None:
        self.nvml = nvml or _nvml()
        self.nvml.nvmlInit()
        self.hostname = hostname or socket.gethostname()

    def close(self) -> None:
        self.nvml.nvmlShutdown()

    def _read(self, index: int) -> tuple[tuple[str, ...], dict[str, float]]:
        n = self.nvml
        handle = n.nvmlDeviceGetHandleByIndex(index)
        pci = n.nvmlDeviceGetPciInfo(handle)
        labels = (str(index), _text(n.nvmlDeviceGetUUID(handle)), _text(pci.busId),
                  f"nvidia{index}", _text(n.nvmlDeviceGetName(handle)), self.hostname)
        util = n.nvmlDeviceGetUtilizationRates(handle)
        mem = n.nvmlDeviceGetMemoryInfo(handle)
        values = {
            "DCGM_FI_DEV_GPU_UTIL": float(util.gpu),
            "DCGM_FI_DEV_MEM_COPY_UTIL": float(util.memory),
            "DCGM_FI_DEV_FB_USED": mem.used / MIB,
            "DCGM_FI_DEV_FB_FREE": mem.free / MIB,
            "DCGM_FI_DEV_GPU_TEMP": float(n.nvmlDeviceGetTemperature(handle,
                                                                    n.NVML_TEMPERATURE_GPU)),
            "DCGM_FI_DEV_POWER_USAGE": n.nvmlDeviceGetPowerUsage(handle) / 1000.0,  # mW -> W
        }
        return labels, values

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(name, doc, labels=LABELS)
                    for name, doc in FIELDS.items()}
        for index in range(int(self.nvml.nvmlDeviceGetCount())):
            labels, values = self._read(index)
            for name, value in values.items():
                families[name].add_metric(labels, value)
        yield from families.values()


def main(argv: Sequence[str] | None = None) -> int:
    from labkit.exporters.serve import serve_forever

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9400)
    args = p.parse_args(argv)
    if gpu_count() == 0:
        p.error("NVML finds no GPU here (no driver, no libnvidia-ml, or no device)")
    registry = CollectorRegistry()
    collector = NvmlCollector()
    registry.register(collector)
    try:
        serve_forever(registry, args.host, args.port)
    finally:
        collector.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
