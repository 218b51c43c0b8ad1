"""The service catalog describes every service once, for both runtimes."""

from pathlib import Path

import pytest

from labkit.config import LabConfig
from labkit.runtime import catalog
from labkit.runtime.catalog import ServiceContext

SERVICES = catalog.all_services()


def test_the_lab_services_are_registered_in_start_order() -> None:
    """Every stack service is in the catalog, and each comes after what it depends on."""
    names = [s.name for s in SERVICES]
    for expected in ("llama-server", "gateway", "prometheus", "alertmanager", "loki",
                     "jaeger", "shipper", "sink", "node-exporter"):
        assert expected in names
    for spec in SERVICES:
        for dep in spec.depends_on:
            assert names.index(dep) < names.index(spec.name), (spec.name, dep)


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
def test_docker_image_is_pinned(spec: catalog.ServiceSpec) -> None:
    """Each docker image names an exact version, never :latest."""
    image = spec.docker.image
    assert ":" in image and not image.endswith(":latest"), image


@pytest.mark.parametrize("spec", [s for s in SERVICES if s.name not in ("prometheus",
                                                                        "alertmanager",
                                                                        "grafana")],
                         ids=lambda s: s.name)
def test_local_command_binds_loopback(spec: catalog.ServiceSpec, tmp_path: Path) -> None:
    """The local command line of each service binds the configured host, 127.0.0.1."""
    cfg = LabConfig(run_dir=tmp_path)
    urls = {"llama-server": "http://127.0.0.1:8081", "loki": "http://127.0.0.1:3100",
            "jaeger": "http://127.0.0.1:16686", "jaeger.otlp": "http://127.0.0.1:4318",
            "sink": "http://127.0.0.1:9097", "gateway": "http://127.0.0.1:8000"}
    ctx = ServiceContext(config=cfg, run_dir=tmp_path, data_dir=tmp_path / "d", urls=urls,
                         ports={k: cfg.port(p) for k, p in spec.ports.items()},
                         model_path="/m.gguf")
    launch = spec.launches[-1]
    argv = " ".join(launch.args(ctx))
    if spec.ports:
        assert "127.0.0.1" in argv
    assert "0.0.0.0" not in argv


def test_unknown_service_lists_known_ones() -> None:
    """Asking for a service that does not exist names the ones that do."""
    with pytest.raises(KeyError, match="known services: llama-server"):
        catalog.get("grafana-enterprise")


@pytest.mark.parametrize("name", ["loki", "jaeger"])
def test_real_binary_configs_render_on_loopback(name: str, tmp_path: Path) -> None:
    """With a real loki or jaeger binary, its rendered config is YAML bound to the lab's ports."""
    import yaml

    spec = catalog.get(name)
    cfg = LabConfig(run_dir=tmp_path, port_offset=500)
    ports = {k: cfg.port(p) for k, p in spec.ports.items()}
    ctx = ServiceContext(config=cfg, run_dir=tmp_path, data_dir=tmp_path / "d", urls={},
                         ports=ports)
    argv = spec.launches[0].args(ctx)
    config = Path(argv[-1].split("=", 1)[-1])
    text = config.read_text()
    yaml.safe_load(text)
    for port in ports.values():
        assert f"127.0.0.1:{port}" in text or f"port: {port}" in text
    assert str(tmp_path / "d") in text, "data must live in the lab's data directory"


def test_grafana_config_binds_loopback_with_anonymous_viewers(tmp_path: Path) -> None:
    """Grafana's rendered ini listens on 127.0.0.1, lets anonymous users view, and its
    provisioning points at the lab's URLs."""
    spec = catalog.get("grafana")
    cfg = LabConfig(run_dir=tmp_path, port_offset=500)
    ctx = ServiceContext(config=cfg, run_dir=tmp_path, data_dir=tmp_path / "d",
                         urls={"prometheus": "http://127.0.0.1:9590",
                               "loki": "http://127.0.0.1:3600"},
                         ports={k: cfg.port(p) for k, p in spec.ports.items()})
    argv = spec.launches[0].args(ctx)
    assert argv[0] == "server"
    ini = Path(argv[argv.index("--config") + 1]).read_text()
    assert "http_addr = 127.0.0.1" in ini and f"http_port = {cfg.port(3000)}" in ini
    assert "org_role = Viewer" in ini
    datasources = (tmp_path / "grafana" / "provisioning" / "datasources" / "labkit.yaml")
    assert "url: http://127.0.0.1:9590" in datasources.read_text()
