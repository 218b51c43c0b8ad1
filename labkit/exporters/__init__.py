"""Small Prometheus exporters the lab runs beside its services.

* :mod:`labkit.exporters.gpu`: NVIDIA GPUs through NVML, under the DCGM exporter's names;
* :mod:`labkit.exporters.process`: the CPU and memory of one lab service's process
  (llama-server), so load can be tied to resource use;
* :mod:`labkit.exporters.synthetic_gpu`: a clearly labelled synthetic DCGM series set,
  backfilled into Prometheus with promtool where there is no GPU.
"""
