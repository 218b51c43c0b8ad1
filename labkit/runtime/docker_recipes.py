"""How each catalog service runs as a container: command, volumes, config files, image.

The catalog (:mod:`labkit.runtime.services`) says what a service is: its ports, health
check and dependencies. A :class:`Recipe` adds what only the docker runtime needs. Inside
the lab's network every service listens on ``0.0.0.0`` at its catalog port and finds the
others by service name (``http://loki:3100``); only the host side of a published port is
moved by ``LABKIT_PORT_OFFSET`` and bound to 127.0.0.1 (see :mod:`labkit.runtime.docker`).

Config files are rendered from ``stack/`` by :func:`render_configs` into one folder that the
containers mount read-only: the docker runtime renders into ``<run dir>/docker``, and
``labkit compose`` into ``stack/compose`` beside the committed ``stack/compose.yaml``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labkit.config import LabConfig
from labkit.runtime.alertmanager_config import render_alertmanager_config
from labkit.runtime.images import image_for
from labkit.runtime.rules import render_rules
from labkit.runtime.services import MODEL_NAME
from labkit.runtime.templates import render, stack_dir

__all__ = ["DATA_VOLUMES", "Recipe", "recipe", "render_configs"]

MODEL_IN_CONTAINER = "/models/model.gguf"
GRAFANA_DASHBOARDS = "/var/lib/grafana-dashboards"
RUN_DIR = "/run/labkit"  # the lab's run directory, read-only, where a recipe asks for it
LOG_DIR = "/var/log/labkit"  # the gateway writes its JSON log here; the shipper reads it
# Services whose data outlives `labkit down` in a named volume (removed by `down --volumes`).
DATA_VOLUMES = {"prometheus", "loki", "jaeger", "grafana", "usage", "alertmanager", "sink",
                "shipper", "logs"}


@dataclass(frozen=True)
class Recipe:
    """One service as a container."""

    service: str
    image: str
    command: tuple[str, ...]
    volumes: dict[str, str] = field(default_factory=dict)  # volume key -> path in container
    read_only_volumes: frozenset[str] = frozenset()
    configs: dict[str, str] = field(default_factory=dict)  # rendered file/dir -> container path
    model: bool = False  # mounts the GGUF at MODEL_IN_CONTAINER
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    host_root: bool = False  # node exporter reads the host's /proc, /sys and / under /host
    host_pids: bool = False  # sees the host's processes (pid namespace of the host)
    run_dir: bool = False  # mounts the lab's run directory read-only at RUN_DIR
    gpus: bool = False
    standin: bool = False


def _url(service: str, port: int) -> str:
    return f"http://{service}:{port}"


def _llama(cfg: LabConfig, standin: bool) -> Recipe:
    slots = cfg.slots
    return Recipe("llama-server", image_for("llama-server", cfg), (
        "--model", MODEL_IN_CONTAINER, "--alias", MODEL_NAME, "--host", "0.0.0.0",
        "--port", "8081", "--metrics", "--parallel", str(slots),
        "--ctx-size", str(1024 * slots), "--threads", "2", "--no-webui"), model=True)


def _gateway(cfg: LabConfig, standin: bool) -> Recipe:
    return Recipe("gateway", image_for("gateway", cfg), (
        "python3", "-m", "labkit.gateway", "--host", "0.0.0.0", "--port", "8000",
        "--upstream", _url("llama-server", 8081), "--model-name", MODEL_NAME,
        "--max-concurrency", str(cfg.slots), "--log-file", f"{LOG_DIR}/gateway.log",
        "--usage-db", "sqlite:////var/lib/labkit/usage.db",
        "--otlp-endpoint", _url("jaeger", 4318),
        # Published on the host's loopback only: answer the lab network's name, and keep
        # /admin/* open without a token unless one is set (LABKIT_ADMIN_TOKEN).
        "--allowed-host", "gateway", "--admin-open"),
        volumes={"logs": LOG_DIR, "usage": "/var/lib/labkit"})


def _shipper(cfg: LabConfig, standin: bool) -> Recipe:
    volumes = {"logs": LOG_DIR, "shipper": "/var/lib/alloy"}
    if standin:  # labkit's own tailer, the local runtime's shipper
        return Recipe("shipper", image_for("shipper", cfg, standin=True), (
            "python3", "-m", "labkit.shipper", "--path", f"{LOG_DIR}/gateway.log*",
            "--loki-url", _url("loki", 3100), "--positions", "/var/lib/alloy/positions.json",
            "--label", "job=llm-api"), volumes=volumes, read_only_volumes=frozenset({"logs"}),
            standin=True)
    return Recipe("shipper", image_for("shipper", cfg), (
        "run", "/etc/alloy/config.alloy", "--storage.path=/var/lib/alloy"),
        volumes=volumes, read_only_volumes=frozenset({"logs"}),
        configs={"alloy/config.alloy": "/etc/alloy/config.alloy"})


def _loki(cfg: LabConfig, standin: bool) -> Recipe:
    if standin:
        # Its DNS-rebinding guard knows its own names and port; the host reaches it through
        # the published port, which it must be told about.
        published = cfg.port(3100)
        return Recipe("loki", image_for("loki", cfg, standin=True), (
            "python3", "-m", "labkit.standins.loki", "--host", "0.0.0.0", "--port", "3100",
            "--data-dir", "/loki", "--allowed-host", f"127.0.0.1:{published}",
            "--allowed-host", f"localhost:{published}"), volumes={"loki": "/loki"},
            standin=True)
    return Recipe("loki", image_for("loki", cfg), ("-config.file=/etc/loki/loki.yaml",),
                  volumes={"loki": "/loki"}, configs={"loki/loki.yaml": "/etc/loki/loki.yaml"})


def _jaeger(cfg: LabConfig, standin: bool) -> Recipe:
    if standin:
        return Recipe("jaeger", image_for("jaeger", cfg, standin=True), (
            "python3", "-m", "labkit.standins.jaeger", "--host", "0.0.0.0",
            "--query-port", "16686", "--otlp-port", "4318", "--data-dir", "/badger"),
            volumes={"jaeger": "/badger"}, standin=True)
    # The image runs as uid 10001, which cannot write a fresh named volume (owned by root).
    return Recipe("jaeger", image_for("jaeger", cfg), ("--config", "/etc/jaeger/config.yaml"),
                  volumes={"jaeger": "/badger"}, user="0",
                  configs={"jaeger/config.yaml": "/etc/jaeger/config.yaml"})


def _sink(cfg: LabConfig, standin: bool) -> Recipe:
    return Recipe("sink", image_for("sink", cfg), (
        "python3", "-m", "labkit.standins.sink", "--host", "0.0.0.0", "--port", "9097",
        "--data-dir", "/var/lib/labkit-sink"), volumes={"sink": "/var/lib/labkit-sink"})


def _alertmanager(cfg: LabConfig, standin: bool) -> Recipe:
    return Recipe("alertmanager", image_for("alertmanager", cfg), (
        "--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager",
        "--web.listen-address=0.0.0.0:9093", "--cluster.listen-address="),
        volumes={"alertmanager": "/alertmanager"},
        configs={"alertmanager/alertmanager.yml": "/etc/alertmanager/alertmanager.yml"})


def _node_exporter(cfg: LabConfig, standin: bool) -> Recipe:
    return Recipe("node-exporter", image_for("node-exporter", cfg), (
        "--web.listen-address=0.0.0.0:9100", "--path.rootfs=/host"), host_root=True,
        host_pids=True)


def _prometheus(cfg: LabConfig, standin: bool) -> Recipe:
    return Recipe("prometheus", image_for("prometheus", cfg), (
        "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
        "--web.listen-address=0.0.0.0:9090",
        *(("--web.enable-lifecycle",) if cfg.prometheus_lifecycle else ()),
        "--enable-feature=exemplar-storage"),
        volumes={"prometheus": "/prometheus"}, configs={"prometheus": "/etc/prometheus"})


def _grafana(cfg: LabConfig, standin: bool) -> Recipe:
    # stack/grafana/provisioning names its URLs ${LABKIT_*}: Grafana expands them from its
    # environment. The admin password is the runtime's to add (generated, never committed).
    return Recipe("grafana", image_for("grafana", cfg), (), volumes={"grafana": "/var/lib/grafana"},
                  configs={"grafana/provisioning": "/etc/grafana/provisioning",
                           "grafana/dashboards": GRAFANA_DASHBOARDS},
                  env={"LABKIT_PROMETHEUS_URL": _url("prometheus", 9090),
                       "LABKIT_LOKI_URL": _url("loki", 3100),
                       "LABKIT_JAEGER_URL": _url("jaeger", 16686),
                       "LABKIT_ALERTMANAGER_URL": _url("alertmanager", 9093),
                       "LABKIT_SCRAPE_INTERVAL": "2s" if cfg.lab_mode else "15s",
                       "LABKIT_GRAFANA_DASHBOARDS": GRAFANA_DASHBOARDS,
                       "GF_AUTH_ANONYMOUS_ENABLED": "true",
                       "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
                       "GF_ANALYTICS_REPORTING_ENABLED": "false",
                       "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
                       "GF_SERVER_HTTP_PORT": "3000"})


def _gpu_exporter(cfg: LabConfig, standin: bool) -> Recipe:
    # NVIDIA's DCGM exporter (port 9400) with `--gpus all`; only on hosts with a GPU.
    return Recipe("gpu-exporter", image_for("gpu-exporter", cfg), (), gpus=True)


def _llama_process(cfg: LabConfig, standin: bool) -> Recipe:
    # Reads llama-server's pid from the lab's state file: the host's pids, so pid=host.
    return Recipe("llama-process", image_for("llama-process", cfg, standin=True), (
        "python3", "-m", "labkit.exporters.process", "--state-file", f"{RUN_DIR}/state.json",
        "--service", "llama-server", "--host", "0.0.0.0", "--port", "9256"),
        run_dir=True, host_pids=True)


_RECIPES: dict[str, Callable[[LabConfig, bool], Recipe]] = {
    "llama-server": _llama, "gateway": _gateway, "shipper": _shipper, "loki": _loki,
    "jaeger": _jaeger, "sink": _sink, "alertmanager": _alertmanager,
    "node-exporter": _node_exporter, "prometheus": _prometheus, "grafana": _grafana,
    "gpu-exporter": _gpu_exporter, "llama-process": _llama_process,
}


def recipe(service: str, config: LabConfig) -> Recipe:
    """The container recipe of a catalog service (stand-in when the config asks for it)."""
    try:
        build = _RECIPES[service]
    except KeyError:
        raise KeyError(f"the docker runtime has no recipe for {service!r}; "
                       f"known: {', '.join(_RECIPES)}") from None
    return build(config, service in config.docker_standins)


def render_configs(out: Path, config: LabConfig, services: set[str]) -> Path:
    """Render every config the containers of ``services`` mount into ``out`` (replaced whole).

    Targets are service names inside the lab's network; listen addresses are 0.0.0.0
    inside each container (only the host side of a published port is loopback).
    """
    lab = config.lab_mode
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    render_rules(tmp / "prometheus" / "rules", lab=lab, slots=config.slots)
    render("prometheus/prometheus.yml.j2", tmp / "prometheus" / "prometheus.yml",
           scrape_interval="2s" if lab else "15s", evaluation_interval="2s" if lab else "15s",
           llama_scrape_interval="2s" if lab else "10s",
           cluster="lab" if lab else "production", prometheus="prometheus:9090",
           llama_server="llama-server:8081", gateway="gateway:8000",
           node_exporter="node-exporter:9100" if "node-exporter" in services else "",
           alertmanager="alertmanager:9093" if "alertmanager" in services else "",
           llama_process="llama-process:9256" if "llama-process" in services else "",
           gpu_exporter="gpu-exporter:9400" if "gpu-exporter" in services else "")
    render_alertmanager_config(tmp / "alertmanager" / "alertmanager.yml",
                               sink_url=_url("sink", 9097), lab=lab)
    render("loki/loki.yaml.j2", tmp / "loki" / "loki.yaml", host="0.0.0.0", port=3100,
           data_dir="/loki")
    render("jaeger/config.yaml.j2", tmp / "jaeger" / "config.yaml", host="0.0.0.0",
           query_port=16686, otlp_port=4318, data_dir="/badger")
    (tmp / "alloy").mkdir()
    shutil.copy(stack_dir() / "alloy" / "config.alloy", tmp / "alloy" / "config.alloy")
    grafana = stack_dir() / "grafana"
    for sub in ("provisioning", "dashboards"):
        if (grafana / sub).is_dir():
            shutil.copytree(grafana / sub, tmp / "grafana" / sub)
    for path in tmp.rglob("*"):  # readable by the containers' unprivileged users
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out
