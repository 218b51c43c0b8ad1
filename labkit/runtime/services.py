"""The lab's services, each described once. Importing this module registers them.

Start order is the order of registration: a service comes after the ones it
talks to, so their URLs are known when its command line is built.
"""

from __future__ import annotations

from labkit.runtime.alertmanager_config import render_alertmanager_config
from labkit.runtime.catalog import DockerSpec, LocalLaunch, ServiceContext, ServiceSpec, register
from labkit.runtime.images import IMAGES
from labkit.runtime.rules import render_rules
from labkit.runtime.templates import render, stack_dir

# Pinned official images for the docker runtime: one table, in labkit/runtime/images.py
# (the docker runtime's recipes, labkit/runtime/docker_recipes.py, say how each one runs).
LLAMA_IMAGE = IMAGES["llama-server"].ref
PROMETHEUS_IMAGE = IMAGES["prometheus"].ref
ALERTMANAGER_IMAGE = IMAGES["alertmanager"].ref
NODE_EXPORTER_IMAGE = IMAGES["node-exporter"].ref
LOKI_IMAGE = IMAGES["loki"].ref
ALLOY_IMAGE = IMAGES["shipper"].ref
JAEGER_IMAGE = IMAGES["jaeger"].ref
GRAFANA_IMAGE = IMAGES["grafana"].ref
DCGM_EXPORTER_IMAGE = IMAGES["gpu-exporter"].ref

MODEL_NAME = "labkit-tiny"
# More model names the gateway serves (aliases of the same llama-server), so per-model
# questions (which model fails? which costs most?) have more than one answer.
EXTRA_MODELS = ("labkit-tiny-chat", "labkit-tiny-code")


def _addr(ctx: ServiceContext, name: str = "http") -> str:
    return f"{ctx.host}:{ctx.port(name)}"


def _hostport(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _python(module: str, args, label: str = "") -> LocalLaunch:
    return LocalLaunch(args=args, module=module, label=label or f"python -m {module}")


# -- llama-server ---------------------------------------------------------------------------

def _llama_args(ctx: ServiceContext) -> list[str]:
    slots = ctx.config.slots
    return [
        "--model", ctx.model_path,
        "--alias", MODEL_NAME,
        "--host", ctx.host, "--port", str(ctx.port()),
        "--metrics",
        "--parallel", str(slots),
        "--ctx-size", str(1024 * slots),  # 1024 tokens per slot
        "--threads", "2",
        "--no-webui",
    ]


register(ServiceSpec(
    name="llama-server",
    description="the LLM (llama.cpp) with --metrics",
    ports={"http": 8081},
    health_path="/health",
    launches=(LocalLaunch(args=_llama_args, binary="llama-server"),),
    docker=DockerSpec(
        image=LLAMA_IMAGE,
        command=("--model", "/models/model.gguf", "--alias", MODEL_NAME, "--host", "0.0.0.0",
                 "--port", "8081", "--metrics", "--parallel", "4", "--ctx-size", "4096"),
    ),
    url_env="LABKIT_LLAMA_URL",
))


# -- Loki (real binary first, else labkit's stand-in) ---------------------------------------

def _loki_real_args(ctx: ServiceContext) -> list[str]:
    config = render("loki/loki.yaml.j2", ctx.run_dir / "loki" / "loki.yaml",
                    host=ctx.host, port=ctx.port(), data_dir=str(ctx.data_dir))
    return [f"-config.file={config}"]


def _loki_standin_args(ctx: ServiceContext) -> list[str]:
    return ["--host", ctx.host, "--port", str(ctx.port()), "--data-dir", str(ctx.data_dir)]


register(ServiceSpec(
    name="loki",
    description="log store (Loki, or labkit's Loki-compatible stand-in)",
    ports={"http": 3100},
    health_path="/ready",
    launches=(
        LocalLaunch(args=_loki_real_args, binary="loki", label="loki"),
        _python("labkit.standins.loki", _loki_standin_args, "labkit Loki stand-in"),
    ),
    docker=DockerSpec(image=LOKI_IMAGE, command=("-config.file=/etc/loki/loki.yaml",)),
    templates=("loki/loki.yaml.j2",),
    url_env="LABKIT_LOKI_URL",
))


# -- Jaeger (real v2 binary first, else labkit's stand-in) -----------------------------------

def _jaeger_real_args(ctx: ServiceContext) -> list[str]:
    config = render("jaeger/config.yaml.j2", ctx.run_dir / "jaeger" / "config.yaml",
                    host=ctx.host, query_port=ctx.port(), otlp_port=ctx.port("otlp"),
                    query_grpc_port=ctx.port("grpc"), data_dir=str(ctx.data_dir),
                    storage="badger")
    return ["--config", str(config)]


def _jaeger_standin_args(ctx: ServiceContext) -> list[str]:
    return ["--host", ctx.host, "--query-port", str(ctx.port()),
            "--otlp-port", str(ctx.port("otlp")), "--data-dir", str(ctx.data_dir)]


register(ServiceSpec(
    name="jaeger",
    description="trace store (Jaeger v2, or labkit's Jaeger-compatible stand-in)",
    ports={"http": 16686, "otlp": 4318, "grpc": 16685},
    health_path="/",
    launches=(
        LocalLaunch(args=_jaeger_real_args, binary="jaeger", label="jaeger"),
        _python("labkit.standins.jaeger", _jaeger_standin_args, "labkit Jaeger stand-in"),
    ),
    docker=DockerSpec(image=JAEGER_IMAGE, command=("--config", "/etc/jaeger/config.yaml")),
    templates=("jaeger/config.yaml.j2",),
    url_env="LABKIT_JAEGER_URL",
))


# -- the gateway ----------------------------------------------------------------------------

def _gateway_args(ctx: ServiceContext) -> list[str]:
    args = [
        "--host", ctx.host, "--port", str(ctx.port()),
        "--upstream", ctx.urls["llama-server"],
        "--model-name", MODEL_NAME,
        *(arg for m in EXTRA_MODELS for arg in ("--extra-model", m)),
        "--max-concurrency", str(ctx.config.slots),
        "--log-file", str(ctx.run_dir / "logs" / "gateway.log"),
        "--usage-db", f"sqlite:///{ctx.data_dir / 'usage.db'}",
    ]
    if "jaeger" in ctx.urls:
        args += ["--otlp-endpoint", ctx.urls["jaeger.otlp"]]
    if ctx.config.admin_token:  # a file, so the token stays out of `ps`
        token_file = ctx.run_dir / "admin-token"
        token_file.touch(mode=0o600)
        token_file.chmod(0o600)
        token_file.write_text(ctx.config.admin_token)
        args += ["--admin-token-file", str(token_file)]
    return args


register(ServiceSpec(
    name="gateway",
    description="the instrumented OpenAI-compatible API (the seed's llm-api)",
    ports={"http": 8000},
    health_path="/health",
    launches=(_python("labkit.gateway", _gateway_args),),
    docker=DockerSpec(image="labkit/gateway:dev", build="docker/gateway.Dockerfile",
                      command=("python", "-m", "labkit.gateway", "--host", "0.0.0.0",
                               "--upstream", "http://llama-server:8081")),
    depends_on=("llama-server",),
    url_env="LABKIT_GATEWAY_URL",
))


# -- the log shipper ------------------------------------------------------------------------

def _shipper_args(ctx: ServiceContext) -> list[str]:
    return [
        "--path", str(ctx.run_dir / "logs" / "gateway.log*"),
        "--loki-url", ctx.urls["loki"],
        "--positions", str(ctx.data_dir / "positions.json"),
        "--label", "job=llm-api",
    ]


register(ServiceSpec(
    name="shipper",
    description="tails the gateway's JSON log into Loki (Alloy in docker)",
    ports={},
    health_path=None,
    launches=(_python("labkit.shipper", _shipper_args),),
    docker=DockerSpec(image=ALLOY_IMAGE,
                      command=("run", "/etc/alloy/config.alloy", "--storage.path=/var/lib/alloy")),
    templates=("alloy/config.alloy",),
    depends_on=("loki",),
))


# -- the notification sink and Alertmanager ------------------------------------------------

def _sink_args(ctx: ServiceContext) -> list[str]:
    return ["--host", ctx.host, "--port", str(ctx.port()), "--data-dir", str(ctx.data_dir)]


register(ServiceSpec(
    name="sink",
    description="labkit's notification sink: every Alertmanager receiver posts here",
    ports={"http": 9097},
    health_path="/health",
    launches=(_python("labkit.standins.sink", _sink_args),),
    docker=DockerSpec(image="labkit/gateway:dev", build="docker/gateway.Dockerfile",
                      command=("python", "-m", "labkit.standins.sink", "--host", "0.0.0.0")),
    url_env="LABKIT_SINK_URL",
))


def _alertmanager_args(ctx: ServiceContext) -> list[str]:
    config = render_alertmanager_config(ctx.run_dir / "alertmanager" / "alertmanager.yml",
                                        sink_url=ctx.urls["sink"], lab=ctx.config.lab_mode)
    return [
        f"--config.file={config}",
        f"--storage.path={ctx.data_dir}",
        f"--web.listen-address={_addr(ctx)}",
        "--cluster.listen-address=",  # a single instance: no gossip port
    ]


register(ServiceSpec(
    name="alertmanager",
    description="routes alerts to receivers",
    ports={"http": 9093},
    health_path="/-/ready",
    launches=(LocalLaunch(args=_alertmanager_args, binary="alertmanager"),),
    docker=DockerSpec(image=ALERTMANAGER_IMAGE,
                      command=("--config.file=/etc/alertmanager/alertmanager.yml",)),
    templates=("alertmanager/alertmanager.yml.j2",),
    depends_on=("sink",),
    url_env="LABKIT_ALERTMANAGER_URL",
))


# -- node exporter (optional) -------------------------------------------------------------------

register(ServiceSpec(
    name="node-exporter",
    description="host metrics (CPU, memory, disk, network)",
    ports={"http": 9100},
    health_path="/metrics",
    # Every lab service talks over loopback, so `lo` is the interface whose traffic matters
    # here; Debian's package excludes it by default (upstream does not).
    launches=(LocalLaunch(args=lambda ctx: [f"--web.listen-address={_addr(ctx)}",
                                            "--collector.netdev.device-exclude=^$"],
                          binary="node_exporter"),),
    docker=DockerSpec(image=NODE_EXPORTER_IMAGE),
    optional=True,
))


# -- llama-server's process, and GPUs (labkit.exporters) ------------------------------------

def _process_args(ctx: ServiceContext) -> list[str]:
    return ["--state-file", str(ctx.config.state_file), "--service", "llama-server",
            "--host", ctx.host, "--port", str(ctx.port())]


register(ServiceSpec(
    name="llama-process",
    description="CPU and memory of llama-server's own process (job llama-server-process)",
    ports={"http": 9256},
    health_path="/metrics",
    launches=(_python("labkit.exporters.process", _process_args),),
    docker=DockerSpec(image="labkit/gateway:dev", build="docker/gateway.Dockerfile",
                      command=("python", "-m", "labkit.exporters.process", "--host", "0.0.0.0")),
    depends_on=("llama-server",),
))


def _has_gpu() -> bool:
    from labkit.exporters.gpu import gpu_count

    return gpu_count() > 0


register(ServiceSpec(
    name="gpu-exporter",
    description="NVIDIA GPUs via NVML under DCGM's names (only where a GPU is present)",
    ports={"http": 9400},
    health_path="/metrics",
    launches=(_python("labkit.exporters.gpu",
                      lambda ctx: ["--host", ctx.host, "--port", str(ctx.port())]),),
    # The docker runtime runs NVIDIA's own exporter with `--gpus all`.
    docker=DockerSpec(image=DCGM_EXPORTER_IMAGE),
    optional=True,
    available=_has_gpu,
))


def _backfill_synthetic_gpu(ctx: ServiceContext) -> None:
    """No GPU exporter: load the labelled synthetic DCGM series (once) before Prometheus starts."""
    import sys

    from labkit.errors import LabError
    from labkit.exporters.synthetic_gpu import backfill
    from labkit.runtime.provision import find_binary

    promtool = find_binary("promtool")
    if "gpu-exporter" in ctx.urls or promtool is None:
        return
    try:
        backfill(ctx.data_dir, str(promtool), meta_dir=ctx.run_dir / "prometheus")
    except LabError as exc:  # the lab runs without GPU series; the GPU panels say "no data"
        print(f"labkit: synthetic GPU series not loaded: {exc}", file=sys.stderr)


# -- Prometheus -----------------------------------------------------------------------------

def _prometheus_major() -> int:
    """The major version of the prometheus the local runtime runs (3 when unknown)."""
    from labkit.runtime.origins import binary_version
    from labkit.runtime.provision import find_binary

    path = find_binary("prometheus")
    version = binary_version(path, "prometheus") if path else ""
    return int(version.split(".")[0]) if version[:1].isdigit() else 3


def _prometheus_args(ctx: ServiceContext) -> list[str]:
    lab = ctx.config.lab_mode
    conf_dir = ctx.run_dir / "prometheus"
    major = _prometheus_major()
    render_rules(conf_dir / "rules", lab=lab, slots=ctx.config.slots)
    render(
        "prometheus/prometheus.yml.j2", conf_dir / "prometheus.yml",
        scrape_interval="2s" if lab else "15s",
        evaluation_interval="2s" if lab else "15s",
        llama_scrape_interval="2s" if lab else "10s",
        cluster="lab" if lab else "production",
        prometheus=_addr(ctx),
        llama_server=_hostport(ctx.urls["llama-server"]),
        gateway=_hostport(ctx.urls["gateway"]),
        node_exporter=_hostport(ctx.urls.get("node-exporter", "")),
        alertmanager=_hostport(ctx.urls.get("alertmanager", "")),
        prometheus_major=major,
        llama_process=_hostport(ctx.urls.get("llama-process", "")),
        gpu_exporter=_hostport(ctx.urls.get("gpu-exporter", "")),
    )
    _backfill_synthetic_gpu(ctx)
    args = [
        f"--config.file={conf_dir / 'prometheus.yml'}",
        f"--storage.tsdb.path={ctx.data_dir}",
        f"--web.listen-address={_addr(ctx)}",
        "--enable-feature=exemplar-storage",
    ]
    # /-/quit and /-/reload take a cross-site POST from any page the learner visits.
    if ctx.config.prometheus_lifecycle:
        args.append("--web.enable-lifecycle")
    return args


register(ServiceSpec(
    name="prometheus",
    description="metrics and rules",
    ports={"http": 9090},
    health_path="/-/ready",
    launches=(LocalLaunch(args=_prometheus_args, binary="prometheus"),),
    docker=DockerSpec(image=PROMETHEUS_IMAGE,
                      command=("--config.file=/etc/prometheus/prometheus.yml",
                               "--enable-feature=exemplar-storage")),
    templates=("prometheus/prometheus.yml.j2",),
    url_env="LABKIT_PROMETHEUS_URL",
))




# -- Grafana (optional: when a grafana binary is installed) --------------------------------

def _grafana_args(ctx: ServiceContext, subcommand: tuple[str, ...]) -> list[str]:
    from labkit.runtime.grafana import (
        admin_password,
        find_grafana,
        grafana_home,
        render_provisioning,
    )

    conf_dir = ctx.run_dir / "grafana"
    dashboards = stack_dir() / "grafana" / "dashboards"
    provisioning = render_provisioning(conf_dir / "provisioning", {
        "LABKIT_PROMETHEUS_URL": ctx.urls.get("prometheus", ""),
        "LABKIT_LOKI_URL": ctx.urls.get("loki", ""),
        "LABKIT_JAEGER_URL": ctx.urls.get("jaeger", ""),
        "LABKIT_ALERTMANAGER_URL": ctx.urls.get("alertmanager", ""),
        "LABKIT_SCRAPE_INTERVAL": "2s" if ctx.config.lab_mode else "15s",
        "LABKIT_GRAFANA_DASHBOARDS": str(dashboards),
    })
    ini = render("grafana/grafana.ini.j2", conf_dir / "grafana.ini", host=ctx.host,
                 port=ctx.port(), data_dir=str(ctx.data_dir), provisioning=str(provisioning),
                 admin_password=admin_password(ctx.run_dir),
                 home_dashboard=str(dashboards / "llm-inference-service.json"))
    binary = find_grafana()
    home = grafana_home(binary) if binary else ctx.run_dir
    return [*subcommand, "--homepath", str(home), "--config", str(ini)]


register(ServiceSpec(
    name="grafana",
    description="dashboards (anonymous viewer, loopback only)",
    ports={"http": 3000},
    health_path="/api/health",
    launches=(
        LocalLaunch(args=lambda ctx: _grafana_args(ctx, ("server",)), binary="grafana"),
        LocalLaunch(args=lambda ctx: _grafana_args(ctx, ()), binary="grafana-server"),
    ),
    docker=DockerSpec(image=GRAFANA_IMAGE),
    templates=("grafana/grafana.ini.j2",),
    depends_on=("prometheus",),
    optional=True,
    url_env="LABKIT_GRAFANA_URL",
    stop_timeout=20.0,
))
