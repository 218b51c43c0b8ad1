"""The llama.cpp server dashboard: prefill and decode throughput, slots, and its process.

Every query reads llama-server's real ``llamacpp:*`` metrics (or the lab's recording rules
over them) and the ``process_*`` series labkit's process exporter reports for
llama-server's own pid (job ``llama-server-process``), so load can be tied to CPU and memory.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from labkit.dashboards.inference import RATE, new_dashboard, slots_variable
from labkit.dashboards.panels import bar_gauge, promql, stat_panel, thresholds, time_series

__all__ = ["llama_server"]

PROC = 'job="llama-server-process"'


def llama_server() -> dash.Dashboard:
    """llama-server's own view: tokens in, tokens out, slots, deferred requests, CPU, memory."""
    return (
        new_dashboard("llamacpp-server", "llama.cpp server",
                      "llama-server's --metrics (llamacpp:*) and its process's CPU and "
                      "memory.", "llama.cpp")
        .with_variable(slots_variable())
        .with_panel(stat_panel(
            "Decode speed", "Tokens generated per second of decoding time "
            "(tokens_predicted_total / tokens_predicted_seconds_total), from the recording "
            "rule instance:llamacpp_decode_tokens_per_second:rate5m.", "tps",
            [promql("sum(instance:llamacpp_decode_tokens_per_second:rate5m)")]))
        .with_panel(stat_panel(
            "Busy slots", "Requests llama-server is processing now, out of $slots. Red "
            "when all are busy (NoAvailableSlots).", "short",
            [promql("sum(llamacpp:requests_processing)")],
            th=thresholds((3, "orange"), (4, "red"))))
        .with_panel(stat_panel(
            "Deferred requests", "Requests waiting because no slot was free. Red from 1: "
            "the NoAvailableSlots alert also fires on a deferred request.", "short",
            [promql("sum(llamacpp:requests_deferred)")], th=thresholds((1, "red"))))
        .with_panel(stat_panel(
            "Slot saturation", "Busy slots over configured slots (recording rule "
            "instance:llamacpp_slots:saturation). Red at 100 %.", "percentunit",
            [promql("max(instance:llamacpp_slots:saturation)")],
            th=thresholds((0.75, "orange"), (1, "red")), lo=0, hi=1))
        .with_panel(time_series(
            "Prefill throughput", "Prompt tokens processed per second "
            "(llamacpp:prompt_tokens_total).", "tps",
            [promql(f"sum(rate(llamacpp:prompt_tokens_total[{RATE}]))", "prompt tokens/s")]))
        .with_panel(time_series(
            "Decode throughput", "Tokens generated per second of wall time "
            "(llamacpp:tokens_predicted_total) and decode calls per second "
            "(llamacpp:n_decode_total).", "tps",
            [promql(f"sum(rate(llamacpp:tokens_predicted_total[{RATE}]))", "tokens/s"),
             promql(f"sum(rate(llamacpp:n_decode_total[{RATE}]))", "decode calls/s")]))
        .with_panel(time_series(
            "Slots", "Busy slots and deferred requests against the $slots configured. "
            "Red at $slots busy (NoAvailableSlots).", "short",
            [promql("sum(llamacpp:requests_processing)", "processing"),
             promql("sum(llamacpp:requests_deferred)", "deferred")],
            th=thresholds((4, "red")), lo=0))
        .with_panel(time_series(
            "Prompt and generation time share", "Seconds spent in prefill and in decode per "
            "second of wall time: 1 means busy all the time.", "percentunit",
            [promql(f"sum(rate(llamacpp:prompt_seconds_total[{RATE}]))", "prefill"),
             promql(f"sum(rate(llamacpp:tokens_predicted_seconds_total[{RATE}]))",
                    "decode")], lo=0))
        .with_panel(time_series(
            "llama-server CPU", "CPU seconds per second used by llama-server's process "
            "(1 = one core busy), from labkit's process exporter.", "percentunit",
            [promql(f"rate(process_cpu_seconds_total{{{PROC}}}[{RATE}])", "cpu")], lo=0))
        .with_panel(bar_gauge(
            "llama-server memory", "Resident and virtual memory of llama-server's process.",
            "bytes", [promql(f"process_resident_memory_bytes{{{PROC}}}", "resident"),
                      promql(f"process_virtual_memory_bytes{{{PROC}}}", "virtual")]))
    )
