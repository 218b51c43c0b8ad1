"""The docker runtime's images: pinned in one table, overridable per service for mirrors.

Prometheus, Alertmanager, node exporter, Loki, Alloy and Jaeger take their versions from the
one table of pinned versions that the local runtime installs from
(:data:`labkit.runtime.versions.PINNED`), so both runtimes run the same release. The other
upstream images are pinned here. The lab's
own services (gateway, sink; the stand-ins) run in the ``labkit`` image built from this
repository (``docker/labkit.Dockerfile``).

A mirror or a locally built image replaces one service's image with
``LABKIT_IMAGE_<SERVICE>`` (``LABKIT_IMAGE_LLAMA_SERVER=mirror.example/llama.cpp:server-b11312``).
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit import __version__
from labkit.config import LabConfig, service_env_name
from labkit.runtime.versions import PINNED

__all__ = ["IMAGES", "LABKIT_IMAGE", "Image", "image_for", "image_table"]

LABKIT_IMAGE = f"labkit/labkit:{__version__}"
"""The image built from this repository: gateway, sink, shipper and the stand-ins."""


@dataclass(frozen=True)
class Image:
    """One pinned image: ``repository:tag``, with its digest where it is known."""

    repository: str
    tag: str
    digest: str = ""
    note: str = ""

    @property
    def ref(self) -> str:
        """What ``docker pull`` takes: ``repo:tag@sha256:...`` when the digest is pinned."""
        base = f"{self.repository}:{self.tag}"
        return f"{base}@{self.digest}" if self.digest else base


def _binary_version(project: str) -> str:
    return PINNED[project].version


# llama.cpp's server image is tagged by llama.cpp build number (server-b<N>). The local
# runtime builds the llama.cpp vendored in llama-cpp-python 0.3.36 (llama_build.py), whose
# CHANGELOG names llama.cpp commit 0c1e57098: release b11312 (2026-10-01). Both runtimes
# serve the same llama-server: a test fails when llama_build.py moves without this table.
LLAMA_CPP_BUILDS = {"0.3.36": "b11312"}  # llama-cpp-python version -> llama.cpp release
LLAMA_CPP_BUILD = LLAMA_CPP_BUILDS["0.3.36"]
IMAGES: dict[str, Image] = {
    "llama-server": Image("ghcr.io/ggml-org/llama.cpp", f"server-{LLAMA_CPP_BUILD}",
                          note="llama.cpp's CPU server image"),
    "prometheus": Image("prom/prometheus", "v" + _binary_version("prometheus")),
    "alertmanager": Image("prom/alertmanager", "v" + _binary_version("alertmanager")),
    "node-exporter": Image("prom/node-exporter", "v" + _binary_version("node_exporter")),
    "loki": Image("grafana/loki", _binary_version("loki"),
                  note="single binary, schema v13, tsdb"),
    "shipper": Image("grafana/alloy", "v" + _binary_version("alloy"),
                     note="tails the gateway's JSON log"),
    "jaeger": Image("jaegertracing/jaeger", _binary_version("jaeger"), note="Jaeger v2, OTLP in"),
    "grafana": Image("grafana/grafana-oss", _binary_version("grafana")),
    "gpu-exporter": Image("nvcr.io/nvidia/k8s/dcgm-exporter", "4.2.3-4.1.3-ubuntu22.04",
                           note="GPU metrics, only on hosts with an NVIDIA GPU"),
}

# Services that always run in the labkit image.
LABKIT_SERVICES = ("gateway", "sink", "llama-process")


def image_for(service: str, config: LabConfig, *, standin: bool = False) -> str:
    """The image a service runs: its ``LABKIT_IMAGE_<SERVICE>`` override, else the pin.

    A service run as labkit's stand-in (``standin=True``) and labkit's own services use the
    labkit image, which ``LABKIT_IMAGE_LABKIT`` overrides.
    """
    override = config.image_override(service)
    if override:
        return override
    if standin or service in LABKIT_SERVICES or service not in IMAGES:
        return config.image_override("labkit") or LABKIT_IMAGE
    return IMAGES[service].ref


def image_table(config: LabConfig) -> list[tuple[str, str, str]]:
    """(service, image, how to override) rows, for the README and ``labkit doctor``."""
    rows = [(name, image_for(name, config), service_env_name(name)) for name in IMAGES]
    rows += [(name, image_for(name, config), service_env_name("labkit"))
             for name in LABKIT_SERVICES]
    return rows
