"""The docker runtime's pieces that need no engine: images, recipes, configs, compose."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from labkit.config import LabConfig
from labkit.errors import ContainerEngineError, LabError
from labkit.runtime.compose import write_compose
from labkit.runtime.docker_recipes import recipe, render_configs
from labkit.runtime.images import IMAGES, LABKIT_IMAGE, image_for
from labkit.runtime.provision import BINARIES
from labkit.runtime.select import make_runtime, runtime_name
from labkit.runtime.state import LabState, ServiceState

COMPOSE = Path(__file__).resolve().parents[2] / "stack" / "compose.yaml"


def test_images_follow_the_pinned_binaries() -> None:
    """Prometheus, Alertmanager and node exporter images carry the binaries' pinned versions."""
    assert IMAGES["prometheus"].ref == f"prom/prometheus:v{BINARIES['prometheus'].version}"
    assert IMAGES["alertmanager"].tag == "v" + BINARIES["alertmanager"].version
    assert IMAGES["node-exporter"].tag == "v" + BINARIES["node_exporter"].version


def test_llama_image_is_the_llama_cpp_the_local_build_vendors() -> None:
    """The llama.cpp server image is the release vendored by the pinned llama-cpp-python."""
    from labkit.runtime.images import LLAMA_CPP_BUILDS
    from labkit.runtime.llama_build import LLAMA_CPP_PYTHON_VERSION

    assert IMAGES["llama-server"].tag == f"server-{LLAMA_CPP_BUILDS[LLAMA_CPP_PYTHON_VERSION]}"


@pytest.mark.parametrize(("env", "service", "expected"), [
    ({}, "llama-server", IMAGES["llama-server"].ref),
    ({"LABKIT_IMAGE_LLAMA_SERVER": "mirror.local/llama.cpp:server-b1"}, "llama-server",
     "mirror.local/llama.cpp:server-b1"),
    ({"LABKIT_IMAGE_NODE_EXPORTER": "mirror.local/ne:1"}, "node-exporter", "mirror.local/ne:1"),
    ({"LABKIT_IMAGE_NODE_EXPORTER": "mirror.local/ne:1"}, "prometheus",
     IMAGES["prometheus"].ref),
    ({}, "gateway", LABKIT_IMAGE),
    ({"LABKIT_IMAGE_LABKIT": "mirror.local/labkit:2"}, "sink", "mirror.local/labkit:2"),
], ids=["pinned", "override", "dashed-name", "others-unchanged", "labkit-image",
        "labkit-override"])
def test_image_for_honours_per_service_overrides(env: dict[str, str], service: str,
                                                 expected: str) -> None:
    """LABKIT_IMAGE_<SERVICE> replaces exactly that service's image."""
    assert image_for(service, LabConfig.from_env(env)) == expected


def test_standins_run_labkit_in_the_labkit_image() -> None:
    """A service listed in LABKIT_DOCKER_STANDINS runs labkit's module in labkit's image."""
    config = LabConfig.from_env({"LABKIT_DOCKER_STANDINS": "loki, jaeger"})
    loki, jaeger, shipper = (recipe(n, config) for n in ("loki", "jaeger", "shipper"))
    assert loki.image == jaeger.image == LABKIT_IMAGE
    assert loki.command[:3] == ("python3", "-m", "labkit.standins.loki")
    assert jaeger.volumes == {"jaeger": "/badger"}
    assert shipper.image == IMAGES["shipper"].ref and shipper.command[0] == "run"


def test_real_services_are_configured_for_the_network() -> None:
    """Loki, Jaeger and Alloy mount their rendered configs; the gateway talks by name."""
    config = LabConfig()
    assert recipe("loki", config).configs == {"loki/loki.yaml": "/etc/loki/loki.yaml"}
    assert recipe("shipper", config).read_only_volumes == {"logs"}
    gateway = recipe("gateway", config).command
    assert "http://llama-server:8081" in gateway and "http://jaeger:4318" in gateway
    assert recipe("llama-server", LabConfig(slots=3)).command[
        recipe("llama-server", LabConfig(slots=3)).command.index("--parallel") + 1] == "3"


def test_grafana_spec_provisions_and_allows_anonymous_viewers() -> None:
    """Grafana's official image gets stack/grafana's provisioning and read-only anonymous access."""
    grafana = recipe("grafana", LabConfig())
    assert grafana.image == "grafana/grafana-oss:13.2.3"
    assert grafana.configs["grafana/provisioning"] == "/etc/grafana/provisioning"
    assert grafana.env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert grafana.volumes == {"grafana": "/var/lib/grafana"}
    assert grafana.env["LABKIT_PROMETHEUS_URL"] == "http://prometheus:9090"
    provisioning = Path(__file__).resolve().parents[2] / "stack" / "grafana" / "provisioning"
    wanted = set(re.findall(r"\$\{(LABKIT_[A-Z_]+)\}", "".join(
        p.read_text() for p in provisioning.rglob("*.yaml"))))
    assert wanted and wanted <= set(grafana.env), wanted - set(grafana.env)


def test_rendered_configs_address_services_by_name(tmp_path: Path) -> None:
    """Inside the network configs name services; nothing points at the host's loopback."""
    out = render_configs(tmp_path / "docker", LabConfig(), {"alertmanager", "node-exporter"})
    prometheus = yaml.safe_load((out / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]}
    assert targets == {"prometheus:9090", "llama-server:8081", "gateway:8000",
                       "node-exporter:9100", "alertmanager:9093"}
    alertmanager = (out / "alertmanager" / "alertmanager.yml").read_text()
    assert "http://sink:9097" in alertmanager and "127.0.0.1" not in alertmanager
    assert list((out / "prometheus" / "rules").glob("*.yml"))
    assert "http_listen_port: 3100" in (out / "loki" / "loki.yaml").read_text()


def test_runtime_setting_is_checked() -> None:
    """An unknown LABKIT_RUNTIME says which values exist."""
    with pytest.raises(ValueError, match="expected one of local, docker"):
        LabConfig.from_env({"LABKIT_RUNTIME": "podman"})


def test_a_running_lab_keeps_its_runtime(tmp_path: Path) -> None:
    """Without a choice the state file's runtime is used; the other runtime is refused."""
    LabState(run_dir=str(tmp_path), runtime="docker", services={"sink": ServiceState(
        "sink", "http://127.0.0.1:9097", 1, 0.0, 0.0, "", "", container="c")}).save(
        tmp_path / "state.json")
    assert runtime_name(LabConfig(run_dir=tmp_path)) == "docker"
    with pytest.raises(LabError, match="runs on the docker runtime: use `--runtime docker`"):
        make_runtime(LabConfig(run_dir=tmp_path, runtime="local"))
    assert runtime_name(LabConfig(run_dir=tmp_path / "elsewhere")) == "local"


def test_unreachable_engine_says_what_to_do(tmp_path: Path) -> None:
    """No engine at DOCKER_HOST: a ContainerEngineError that says how to point at one."""
    from labkit.runtime.docker import DockerRuntime

    config = LabConfig(run_dir=tmp_path, runtime="docker",
                       docker_host=f"unix://{tmp_path}/absent.sock")
    with pytest.raises(ContainerEngineError, match=r"unreachable.*DOCKER_HOST"):
        DockerRuntime(config).up(["sink"], progress=lambda _: None)


def test_committed_compose_file_matches_the_catalog() -> None:
    """stack/compose.yaml and stack/compose/ are what `labkit compose` writes today."""
    _path, changed = write_compose(COMPOSE, check=True)
    assert not changed, "stack/compose.yaml is out of date: run `labkit compose`"


def test_compose_publishes_on_loopback_only() -> None:
    """Every port in the compose file binds 127.0.0.1; every service carries labkit's label."""
    doc = yaml.safe_load(COMPOSE.read_text())
    ports = [p for svc in doc["services"].values() for p in svc.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert all(svc["labels"]["io.labkit.project"] == "labkit" for svc in doc["services"].values())
    assert doc["services"]["gpu-exporter"]["profiles"] == ["gpu"]


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        return [docker, "compose"]
    found = shutil.which("docker-compose")
    return [found] if found else None


def test_compose_file_passes_docker_compose_config(tmp_path: Path) -> None:
    """`docker compose config` (or Debian's docker-compose) accepts the committed file."""
    command = _compose_command()
    if command is None:
        if os.environ.get("LABKIT_REQUIRE_DOCKER") == "1":
            pytest.fail("LABKIT_REQUIRE_DOCKER=1 but neither `docker compose` nor "
                        "docker-compose is installed")
        pytest.skip("neither `docker compose` nor docker-compose is installed: "
                    "apt-get install docker-compose")
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    result = subprocess.run([*command, "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                            text=True, check=False, env={
                                **os.environ, "LABKIT_MODEL": str(model),
                                "LABKIT_GRAFANA_ADMIN_PASSWORD": "not-a-secret"})
    assert result.returncode == 0, result.stdout + result.stderr
    missing = subprocess.run([*command, "-f", str(COMPOSE), "config", "-q"],
                             capture_output=True, text=True, check=False,
                             env={**os.environ, "LABKIT_MODEL": "",
                                  "LABKIT_GRAFANA_ADMIN_PASSWORD": "not-a-secret"})
    assert missing.returncode != 0 and "LABKIT_MODEL" in missing.stderr


def _gateway_container(tmp_path: Path, token: str | None) -> dict:
    """The docker runtime's container spec for the gateway (no engine: volumes stubbed)."""
    from labkit.runtime import catalog
    from labkit.runtime.docker import DockerRuntime

    config = LabConfig(run_dir=tmp_path, runtime="docker", admin_token=token)
    runtime = DockerRuntime(config, client=object())
    runtime.engine.ensure_volume = lambda key, bind_to=None: f"vol-{key}"  # type: ignore
    state = LabState(run_dir=str(tmp_path), runtime="docker", model=str(tmp_path / "m.gguf"))
    return runtime._container_args(catalog.get("gateway"), recipe("gateway", config), state)


def test_gateway_container_gets_the_admin_token_only_when_set(tmp_path: Path) -> None:
    """LABKIT_ADMIN_TOKEN reaches the gateway container as the local runtime passes it; unset,
    the container gets no such variable (the gateway then keeps /admin/* open on loopback)."""
    secret = "s3cret-token-for-test"
    args = _gateway_container(tmp_path, secret)
    assert args["environment"]["LABKIT_ADMIN_TOKEN"] == secret
    assert secret not in " ".join(args["command"])  # not on the command line (`ps`, inspect)
    assert "LABKIT_ADMIN_TOKEN" not in _gateway_container(tmp_path, None)["environment"]


def test_admin_token_is_never_written_to_the_compose_file(tmp_path: Path) -> None:
    """`labkit compose` with a token set writes no token anywhere under its output."""
    secret = "s3cret-token-for-test"
    (tmp_path / "out").mkdir()
    write_compose(tmp_path / "out" / "compose.yaml",
                  LabConfig(run_dir=tmp_path / "run", admin_token=secret))
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert written and not any(secret in p.read_text(errors="replace") for p in written)
