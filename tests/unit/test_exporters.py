"""The GPU exporter (DCGM names over NVML), the process exporter, and the synthetic GPU series."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from labkit.exporters import synthetic_gpu as syn
from labkit.exporters.gpu import FIELDS, NvmlCollector, gpu_count
from labkit.exporters.process import process_registry
from labkit.runtime.state import LabState, ServiceState


class FakeNvml:
    """NVML's Python surface for two GPUs (values as the real library returns them)."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def nvmlInit(self) -> None:  # noqa: N802
        if self.fail:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:  # noqa: N802
        pass

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:  # noqa: N802
        return i

    def nvmlDeviceGetPciInfo(self, h: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(busId=f"00000000:1{h}:00.0")

    def nvmlDeviceGetUUID(self, h: int) -> str:  # noqa: N802
        return f"GPU-{h}"

    def nvmlDeviceGetName(self, h: int) -> bytes:  # noqa: N802
        return b"NVIDIA H200"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(gpu=30 + h, memory=10)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(used=(h + 1) * 1024 * 1024 * 1024, free=2 * 1024**3,
                               total=(h + 3) * 1024**3)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:  # noqa: N802
        return 50 + h

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:  # noqa: N802
        return 250_500  # milliwatts


def _samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    text = generate_latest(registry).decode()
    return {(s.name, s.labels.get("gpu", "")): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_the_gpu_exporter_serves_dcgm_names_units_and_labels() -> None:
    """Framebuffer in MiB, power in W, one series per GPU with dcgm-exporter's labels."""
    registry = CollectorRegistry()
    registry.register(NvmlCollector(FakeNvml(), hostname="box"))
    got = _samples(registry)
    assert {name for name, _ in got} == set(FIELDS)
    assert got[("DCGM_FI_DEV_FB_USED", "1")] == 2048.0
    assert got[("DCGM_FI_DEV_FB_FREE", "0")] == 2048.0
    assert got[("DCGM_FI_DEV_POWER_USAGE", "0")] == 250.5
    assert got[("DCGM_FI_DEV_GPU_UTIL", "1")] == 31.0
    text = generate_latest(registry).decode()
    assert 'modelName="NVIDIA H200"' in text and 'UUID="GPU-1"' in text
    assert 'device="nvidia1"' in text and 'Hostname="box"' in text


def test_no_nvml_means_no_gpu() -> None:
    """A missing library or driver counts as no GPU (the exporter is then not started)."""
    assert gpu_count(FakeNvml(fail=True)) == 0
    assert gpu_count(FakeNvml()) == 2


def test_the_process_exporter_follows_the_pid_in_the_state_file(tmp_path: Path) -> None:
    """process_* metrics describe the service named in the state file, or nothing."""
    state = tmp_path / "state.json"
    registry = process_registry(state)
    assert "process_resident_memory_bytes" not in generate_latest(registry).decode()
    LabState(run_dir=str(tmp_path), services={"llama-server": ServiceState(
        "llama-server", "", os.getpid(), 0, 0, "", "")}).save(state)
    got = _samples(registry)
    assert got[("process_resident_memory_bytes", "")] > 1e6
    assert got[("process_cpu_seconds_total", "")] > 0


def test_the_synthetic_series_are_labelled_and_shaped_for_the_exercises() -> None:
    """source="synthetic" on every series; GPU 1 ends above 95 % used, GPU 0 stays below."""
    series = dict(syn.series())
    assert len(series) == len(FIELDS) * 2
    assert all('source="synthetic"' in s and 'job="nvidia-gpu"' in s for s in series)
    last = syn.WINDOW_S // syn.STEP_S

    def used(gpu: str, step: int) -> float:
        u = syn.value_at("DCGM_FI_DEV_FB_USED", gpu, step)
        return u / (u + syn.value_at("DCGM_FI_DEV_FB_FREE", gpu, step))

    assert used("1", last) > 0.95 > used("1", last // 2)
    assert max(used("0", s) for s in range(last + 1)) < 0.8
    # used / free (the seed's formula) is far from the fraction: the exercises tell them apart
    u, f = (syn.value_at(n, "1", last) for n in ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"))
    assert u / f > 10


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_backfill_writes_blocks_promtool_can_read_once(tmp_path: Path) -> None:
    """promtool turns the OpenMetrics into TSDB blocks; a second backfill changes nothing."""
    window = syn.backfill(tmp_path / "data", now=1_800_000_000, meta_dir=tmp_path / "meta")
    assert window.end == 1_800_000_000 - syn.GAP_S
    assert window.end - window.start == syn.WINDOW_S
    blocks = sorted(p.name for p in (tmp_path / "data").iterdir() if p.is_dir())
    assert blocks
    again = syn.backfill(tmp_path / "data", now=1_900_000_000, meta_dir=tmp_path / "meta")
    assert again == window
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if p.is_dir()) == blocks
    listing = subprocess.run(["promtool", "tsdb", "list", str(tmp_path / "data")],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    samples = sum(int(line.split()[4]) for line in listing[1:] if line.strip())
    assert samples == len(FIELDS) * 2 * (syn.WINDOW_S // syn.STEP_S + 1)
