"""Host and GPU dashboards: the node exporter's series and the DCGM exporter's names.

Without a GPU the lab backfills a clearly labelled synthetic DCGM-shaped series set
(``source="synthetic"``, see :mod:`labkit.exporters.synthetic_gpu`); every GPU query keeps
the ``source`` label so a panel shows which it is.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from labkit.dashboards.inference import GPU_MEMORY_USED, RATE, new_dashboard
from labkit.dashboards.panels import (
    alert_threshold,
    bar_gauge,
    gauge_panel,
    promql,
    stat_panel,
    table_panel,
    thresholds,
    time_series,
)

__all__ = ["gpu", "host"]

CPU_BUSY = f'1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{RATE}]))'
MEM_USED = "1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)"


def host() -> dash.Dashboard:
    """CPU, memory, disk and network of the machine, from the node exporter (job node)."""
    return (
        new_dashboard("host", "Host (node exporter)",
                      "The machine the lab runs on: CPU, memory, disk, network.", "node")
        .with_panel(gauge_panel(
            "CPU busy", "Fraction of CPU time not idle, over all cores.", "percentunit",
            [promql(CPU_BUSY)], th=thresholds((0.7, "orange"), (0.9, "red"))))
        .with_panel(gauge_panel(
            "Memory used", "1 - MemAvailable / MemTotal: memory the kernel cannot hand "
            "out without swapping.", "percentunit", [promql(MEM_USED)],
            th=thresholds((0.8, "orange"), (0.9, "red"))))
        .with_panel(stat_panel(
            "Load (1m)", "Runnable and waiting tasks, averaged over a minute, per core.",
            "short", [promql('sum(node_load1) / count(node_cpu_seconds_total{mode="idle"})')],
            th=thresholds((1, "orange"), (2, "red"))))
        .with_panel(stat_panel(
            "Root filesystem used", "Used fraction of the filesystem mounted at /.",
            "percentunit",
            [promql('1 - max(node_filesystem_avail_bytes{mountpoint="/"}) '
                    '/ max(node_filesystem_size_bytes{mountpoint="/"})')],
            th=thresholds((0.8, "orange"), (0.9, "red"))))
        .with_panel(time_series(
            "CPU by mode", "CPU seconds per second, by mode, summed over cores.", "short",
            [promql(f'sum by (mode) (rate(node_cpu_seconds_total{{mode!="idle"}}[{RATE}]))',
                    "{{mode}}")]))
        .with_panel(time_series(
            "Memory", "Total, available and used bytes.", "bytes",
            [promql("sum(node_memory_MemTotal_bytes)", "total"),
             promql("sum(node_memory_MemAvailable_bytes)", "available"),
             promql("sum(node_memory_MemTotal_bytes) - sum(node_memory_MemAvailable_bytes)",
                    "used")]))
        .with_panel(time_series(
            "Disk I/O", "Bytes read and written per second, all block devices.", "Bps",
            [promql(f"sum(rate(node_disk_read_bytes_total[{RATE}]))", "read"),
             promql(f"sum(rate(node_disk_written_bytes_total[{RATE}]))", "written")]))
        .with_panel(time_series(
            "Network", "Bytes received and sent per second, by interface.", "Bps",
            [promql(f"sum by (device) (rate(node_network_receive_bytes_total[{RATE}]))",
                    "{{device}} in"),
             promql(f"sum by (device) (rate(node_network_transmit_bytes_total[{RATE}]))",
                    "{{device}} out")]))
    )


def gpu() -> dash.Dashboard:
    """The DCGM exporter's fields the course uses: utilisation, framebuffer, temperature, power."""
    return (
        new_dashboard("gpu-dcgm", "GPU (DCGM)",
                      "NVIDIA DCGM exporter names. Without a GPU: synthetic series, "
                      "source=\"synthetic\".", "gpu")
        .with_panel(bar_gauge(
            "Framebuffer used", "FB_USED / (FB_USED + FB_FREE) per GPU. Red: the "
            "GPUMemoryHigh alert (> 95 %).", "percentunit",
            [promql(f"max by (gpu, source) ({GPU_MEMORY_USED})", "GPU {{gpu}} {{source}}")],
            th=alert_threshold("GPUMemoryHigh", warn_at=0.85), hi=1))
        .with_panel(table_panel(
            "GPUs", "One row per GPU: model, temperature now.", "celsius",
            [promql("max by (gpu, modelName, source) (DCGM_FI_DEV_GPU_TEMP)", instant=True)]))
        .with_panel(time_series(
            "GPU utilisation", "Percent of time a kernel was running (DCGM_FI_DEV_GPU_UTIL).",
            "percent", [promql("avg by (gpu, source) (DCGM_FI_DEV_GPU_UTIL)",
                               "GPU {{gpu}} {{source}}")], lo=0, hi=100))
        .with_panel(time_series(
            "Framebuffer memory", "Used and free framebuffer (DCGM reports MiB).", "mbytes",
            [promql("sum by (gpu, source) (DCGM_FI_DEV_FB_USED)", "used GPU {{gpu}}"),
             promql("sum by (gpu, source) (DCGM_FI_DEV_FB_FREE)", "free GPU {{gpu}}")]))
        .with_panel(time_series(
            "Temperature", "GPU temperature (DCGM_FI_DEV_GPU_TEMP).", "celsius",
            [promql("max by (gpu, source) (DCGM_FI_DEV_GPU_TEMP)", "GPU {{gpu}}")],
            th=thresholds((80, "orange"), (90, "red"))))
        .with_panel(time_series(
            "Power", "Board power draw (DCGM_FI_DEV_POWER_USAGE).", "watt",
            [promql("sum by (gpu, source) (DCGM_FI_DEV_POWER_USAGE)", "GPU {{gpu}}")]))
    )
