"""Synthetic series for the system exercises of notebook 04: GPUs (DCGM) and the host (node).

* ``GPU_FIXTURE``: the lab's synthetic DCGM series (:mod:`labkit.exporters.synthetic_gpu`),
  one sample a minute. GPU 1's framebuffer climbs past 95 % while GPU 0 stays near 70 %, and
  used / free is far from used / (used + free), so the seed's formula, a sum over GPUs, one
  field alone or a constant all differ from the answer.
* ``NODE_FIXTURE``: a two-core host sampled every 15 s whose idle share drops at 5m, with
  counters far from zero and memory moving every step, so a missing ``rate()``, the idle
  share instead of the busy one, ``MemFree`` instead of ``MemAvailable`` or a per-core
  answer all differ.
"""

from __future__ import annotations

from labkit.exercises.promql_fixture import SeriesFixture
from labkit.exporters import synthetic_gpu as syn

__all__ = ["GPU_FIXTURE", "NODE_FIXTURE"]

_EVERY = 60 // syn.STEP_S  # one sample a minute keeps promtool's input small


def _gpu_series() -> tuple[tuple[str, str], ...]:
    out = []
    for selector, values in syn.series():
        out.append((selector, " ".join(f"{v:g}" for v in values[::_EVERY])))
    return tuple(out)


GPU_FIXTURE = SeriesFixture(
    id="dcgm-synthetic-60m-v1", interval="1m", series=_gpu_series(),
    eval_times=("10m", "30m", "58m", "60m"),
    description="synthetic DCGM series (GPU 1 fills up past 95 %)")

_STEPS = 41  # 0 .. 10m at 15 s
_NODE = 'instance="host:9100", job="node"'


def _counter(start: float, per_step: list[float]) -> str:
    total, out = start, []
    for inc in per_step:
        total += inc
        out.append(f"{total:g}")
    return " ".join(out)


def _node_series() -> tuple[tuple[str, str], ...]:
    series = []
    for cpu, base in (("0", 9000.0), ("1", 7000.0)):
        # seconds per 15 s step in each mode; busier after 5m, and cpu 1 busier than cpu 0
        idle = [0.0] + [(12.0 if i < 20 else 6.0) - 1.5 * int(cpu) - (i % 3) * 0.5
                        for i in range(1, _STEPS)]
        user = [0.0] + [15.0 - v - 0.5 for v in idle[1:]]
        system = [0.0] + [0.5] * (_STEPS - 1)
        for mode, incs, start in (("idle", idle, base), ("user", user, base / 3),
                                  ("system", system, base / 9)):
            series.append((f'node_cpu_seconds_total{{{_NODE}, cpu="{cpu}", mode="{mode}"}}',
                           _counter(start, incs)))
    total = 16 * 2**30
    avail = [int(total * (0.62 - 0.01 * (i % 7) - (0.2 if i >= 20 else 0.0)))
             for i in range(_STEPS)]
    free = [a // 4 for a in avail]
    series += [
        (f"node_memory_MemTotal_bytes{{{_NODE}}}", " ".join([str(total)] * _STEPS)),
        (f"node_memory_MemAvailable_bytes{{{_NODE}}}", " ".join(map(str, avail))),
        (f"node_memory_MemFree_bytes{{{_NODE}}}", " ".join(map(str, free))),
    ]
    return tuple(series)


NODE_FIXTURE = SeriesFixture(
    id="node-2cpu-10m-v1", interval="15s", series=_node_series(),
    eval_times=("3m", "5m45s", "8m", "10m"),
    description="synthetic node exporter series (two cores, busier from 5m)")
