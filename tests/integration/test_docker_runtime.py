"""The docker runtime against a real Docker engine (a private dockerd started for the run).

No image registry is reachable here, so the images are built locally (labkit's
docker_build: a debootstrap minbase base, the binaries `labkit install` provides, the
cached llama-server build, the labkit image from this checkout) and the runtime is pointed
at them with its per-service image overrides. Loki's, Jaeger's and Alloy's real images
cannot be pulled here: labkit's Loki and Jaeger stand-ins and its shipper run in their
place, inside containers of the labkit image. Everything else is the real thing.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labkit.config import LabConfig
from labkit.errors import ImageNotAvailable, PortInUse
from labkit.lab import Lab, connect
from labkit.runtime.docker import DockerRuntime
from labkit.runtime.docker_engine import LABELS, lab_id
from labkit.testing import poll_until
from tests.conftest import DOCKER_PORT_OFFSET

pytestmark = pytest.mark.integration

OFFSET = DOCKER_PORT_OFFSET  # host ports of the docker test labs, apart from every other lab
REQUIRE = os.environ.get("LABKIT_REQUIRE_DOCKER") == "1"  # CI: a skip is a failure
# Every catalog service the docker runtime runs here. Not Grafana: its official image cannot
# be pulled here and Grafana is never built (AGPL); its spec is checked in the unit tests.
# Not the GPU exporter: this machine has no NVIDIA GPU.
SERVICES = ["llama-server", "gateway", "loki", "jaeger", "shipper", "sink", "alertmanager",
            "node-exporter", "llama-process", "prometheus"]


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"LABKIT_REQUIRE_DOCKER=1 but no Docker engine: {reason}")
    pytest.skip(f"no Docker engine can be started here: {reason}")


@pytest.fixture(scope="module")
def engine_url() -> Iterator[str]:
    """A private dockerd for this module (or LABKIT_TEST_DOCKER_HOST), stopped at the end."""
    from labkit.runtime.dockerd import EngineUnavailable, PrivateEngine

    given = os.environ.get("LABKIT_TEST_DOCKER_HOST")
    if given:
        yield given
        return
    engine = PrivateEngine()
    try:
        url = engine.start()
    except EngineUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield url
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def client(engine_url: str) -> Any:
    import docker

    return docker.DockerClient(base_url=engine_url)


@pytest.fixture(scope="module")
def image_env(client: Any) -> dict[str, str]:
    """Build (or find, by content key) every image the lab needs; their LABKIT_* variables."""
    from labkit.runtime.docker_build import build_local_images

    return build_local_images(client, progress=print)


def _config(run_dir: Path, engine_url: str, image_env: dict[str, str], offset: int
            ) -> LabConfig:
    env = {**image_env, "LABKIT_RUN_DIR": str(run_dir), "LABKIT_PORT_OFFSET": str(offset),
           "LABKIT_RUNTIME": "docker", "LABKIT_DOCKER_HOST": engine_url,
           "LABKIT_START_TIMEOUT": "120"}
    return LabConfig.from_env(env)


@pytest.fixture(scope="module")
def docker_lab(tmp_path_factory: pytest.TempPathFactory, engine_url: str,
               image_env: dict[str, str]) -> Iterator[Lab]:
    """The whole lab in containers, for the module; removed with its volumes at the end."""
    config = _config(tmp_path_factory.mktemp("docker-lab"), engine_url, image_env, OFFSET)
    lab = Lab(config)
    try:
        lab.up(SERVICES, progress=print)
        yield lab
    finally:
        lab.close()
        DockerRuntime(config).down(progress=print, volumes=True)


def _containers(client: Any, config: LabConfig) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"{LABELS['lab']}={lab_id(config)}"})


def test_up_runs_every_service_healthy_on_loopback(docker_lab: Lab, client: Any) -> None:
    """Every service runs in a labelled container, healthy, its ports published on 127.0.0.1."""
    rows = DockerRuntime(docker_lab.config).status()
    assert {r.service for r in rows} == set(SERVICES)
    assert all(r.health in ("healthy", "up") for r in rows), rows
    for container in _containers(client, docker_lab.config):
        assert container.labels[LABELS["project"]] == "labkit"
        bindings = container.attrs["HostConfig"]["PortBindings"] or {}
        assert all(b["HostIp"] == "127.0.0.1" for bs in bindings.values() for b in bs), bindings
    assert client.networks.list(names=[f"labkit-{lab_id(docker_lab.config)}"])


def test_connect_finds_the_docker_lab(docker_lab: Lab) -> None:
    """connect() reads the docker lab's state file like a local one's, host URLs included."""
    lab = connect(docker_lab.config)
    assert lab.url("prometheus") == f"http://127.0.0.1:{9090 + OFFSET}"
    assert lab.url("jaeger.otlp") == f"http://127.0.0.1:{4318 + OFFSET}"
    assert httpx.get(lab.gateway_url + "/health").status_code == 200


def test_gateway_reaches_llama_server_through_the_network(docker_lab: Lab, client: Any) -> None:
    """A completion through the gateway's published port is served by llama-server by name."""
    reply = docker_lab.openai().chat.completions.create(
        model="labkit-tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=6)
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 6
    gateway = client.containers.get(f"labkit-{lab_id(docker_lab.config)}-gateway")
    assert "http://llama-server:8081" in gateway.attrs["Config"]["Cmd"]


def test_prometheus_scrapes_services_by_name(docker_lab: Lab) -> None:
    """Prometheus reaches llama-server, the gateway and node exporter at their service names."""
    frame = docker_lab.prometheus.wait_for(
        "up", lambda f: not f.empty and {"llama-server:8081", "gateway:8000",
                                         "node-exporter:9100", "llama-process:9256"}
        <= set(f.instance) and f.value.min() == 1, timeout=60)
    assert {"llama-server", "llm-api", "node", "prometheus"} <= set(frame.job)
    # llama-process follows llama-server's host pid from the state file (pid namespace: host)
    docker_lab.prometheus.wait_for(
        'process_resident_memory_bytes{instance="llama-process:9256"}',
        lambda f: not f.empty and f.value.min() > 1e6, timeout=30)
    docker_lab.openai().chat.completions.create(
        model="labkit-tiny", messages=[{"role": "user", "content": "count me"}], max_tokens=4)
    docker_lab.prometheus.wait_for('sum(llm_requests_total{status="success"})',
                                   lambda f: not f.empty and f.value.sum() >= 1, timeout=30)


def test_logs_reach_loki_through_the_shipper(docker_lab: Lab) -> None:
    """A request's JSON log line, written in the gateway container, is found in Loki."""
    request_id = f"docker-{uuid.uuid4().hex[:12]}"
    response = httpx.post(docker_lab.gateway_url + "/v1/chat/completions",
                          headers={"x-request-id": request_id}, timeout=60,
                          json={"model": "labkit-tiny", "max_tokens": 4,
                                "messages": [{"role": "user", "content": "log me"}]})
    assert response.status_code == 200, response.text
    query = f'{{job="llm-api"}} |= "{request_id}"'
    frame = poll_until(f"the log line of {request_id} in Loki",
                       lambda: docker_lab.loki.query_range(query),
                       lambda f: not f.empty, timeout=60)
    assert any(request_id in line for line in frame.line)


def test_traces_reach_jaeger(docker_lab: Lab) -> None:
    """The gateway's spans, exported over OTLP to jaeger:4318, are found in Jaeger."""
    docker_lab.openai().chat.completions.create(
        model="labkit-tiny", messages=[{"role": "user", "content": "trace me"}], max_tokens=4)
    with docker_lab.jaeger as jaeger:
        frame = poll_until("a trace of llm-api in Jaeger",
                           lambda: jaeger.find_traces("llm-api", lookback="10m"),
                           lambda f: not f.empty, timeout=60)
    assert "llm-api" in set(frame.service)


def test_alert_is_routed_to_the_sink(docker_lab: Lab) -> None:
    """Prometheus knows Alertmanager by name, and an alert reaches the sink's pager hook."""
    prom = docker_lab.url("prometheus")
    active = poll_until("alertmanager:9093 among Prometheus's alertmanagers",
                        lambda: httpx.get(prom + "/api/v1/alertmanagers").json(),
                        lambda body: any("alertmanager:9093" in a["url"]
                                         for a in body["data"]["activeAlertmanagers"]),
                        timeout=30)
    assert active["status"] == "success"
    name = f"DockerRoute{uuid.uuid4().hex[:8]}"
    alert = [{"labels": {"alertname": name, "severity": "critical", "service": "llm-api"},
              "annotations": {"summary": "routing check"}}]
    response = httpx.post(docker_lab.url("alertmanager") + "/api/v2/alerts", json=alert)
    assert response.status_code == 200, response.text
    notes = poll_until(f"{name} at the sink",
                       lambda: httpx.get(docker_lab.url("sink") + "/notifications",
                                         params={"alertname": name}).json(),
                       lambda body: {"pager", "email"} <= {n["receiver"] for n in body},
                       timeout=30)
    assert all(n["status"] == "firing" for n in notes)


def test_second_up_changes_nothing(docker_lab: Lab, client: Any) -> None:
    """Another `up` with the same settings keeps every container as it is."""
    def snapshot() -> dict[str, tuple[str, str]]:
        return {c.name: (c.id, c.attrs["State"]["StartedAt"])
                for c in _containers(client, docker_lab.config)}

    before = snapshot()
    lines: list[str] = []
    DockerRuntime(docker_lab.config).up(SERVICES, progress=lines.append)
    assert snapshot() == before
    assert len(lines) == len(SERVICES) and all("already running" in ln for ln in lines), lines


@pytest.mark.timeout(1800)  # the whole notebook, on a machine that may be shared
def test_notebook_01_runs_on_the_docker_runtime(docker_lab: Lab, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 01 runs unchanged against the docker lab, and every check passes."""
    import nbformat
    import papermill

    from labkit.exercises.core import MIME_TYPE

    monkeypatch.setenv("LABKIT_RUN_DIR", str(docker_lab.config.run_dir))
    monkeypatch.setenv("LABKIT_PORT_OFFSET", str(OFFSET))
    monkeypatch.setenv("LABKIT_STRICT_CHECKS", "1")  # the kernel inherits it
    src = Path(__file__).resolve().parents[2] / "notebooks" / "01-metrics.ipynb"
    out = tmp_path / src.name
    # Half the notebook's default request rate: the same signals, and a cell that finishes
    # on a busy 2-core machine (llama-server shares it with every other container).
    papermill.execute_notebook(str(src), str(out),
                               parameters={"LOAD_RATE": 3.0},
                               kernel_name="python3", cwd=str(src.parent),
                               progress_bar=False, execution_timeout=600)
    verdicts = [o["data"][MIME_TYPE] for cell in nbformat.read(out, as_version=4).cells
                if cell.cell_type == "code" for o in cell.get("outputs", [])
                if MIME_TYPE in o.get("data", {})]
    assert len(verdicts) >= 5
    assert all(v["status"] == "passed" for v in verdicts), verdicts


def test_busy_host_port_names_the_service(tmp_path: Path, engine_url: str,
                                          image_env: dict[str, str]) -> None:
    """A host port held by another process fails `up` naming the service and the port."""
    config = _config(tmp_path, engine_url, image_env, OFFSET + 100)
    runtime = DockerRuntime(config)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", config.port(9097)))
        sock.listen()
        with pytest.raises(PortInUse, match=f"sink cannot start: port 127.0.0.1:"
                                            f"{config.port(9097)} is already in use"):
            runtime.up(["sink"], progress=lambda _: None)
    assert runtime.running() == set()
    runtime.down(progress=lambda _: None, volumes=True)


def test_missing_image_names_service_and_image(tmp_path: Path, engine_url: str,
                                               image_env: dict[str, str]) -> None:
    """An image that is neither present nor pullable fails naming the service and image."""
    env = {**image_env, "LABKIT_IMAGE_SINK": "127.0.0.1:9/labkit/absent:1"}
    config = _config(tmp_path, engine_url, env, OFFSET + 200)
    with pytest.raises(ImageNotAvailable, match=r"sink: pulling image 127\.0\.0\.1:9/labkit/"
                                                r"absent:1 failed.*LABKIT_IMAGE_SINK"):
        DockerRuntime(config).up(["sink"], progress=lambda _: None)
    DockerRuntime(config).down(progress=lambda _: None, volumes=True)


def test_down_keeps_data_unless_asked_and_leaves_nothing(tmp_path: Path, engine_url: str,
                                                         image_env: dict[str, str],
                                                         client: Any) -> None:
    """`down` removes containers and network but keeps volumes (and data); `--volumes` not."""
    config = _config(tmp_path, engine_url, image_env, OFFSET + 300)
    runtime = DockerRuntime(config)
    label = {"label": f"{LABELS['lab']}={lab_id(config)}"}
    runtime.up(["sink"], progress=lambda _: None)
    sink = f"http://127.0.0.1:{config.port(9097)}"
    payload = {"receiver": "chat", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "Kept"}, "annotations": {},
         "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "fingerprint": "abc"}], "groupLabels": {}, "commonLabels": {"alertname": "Kept"},
        "commonAnnotations": {}, "externalURL": "", "version": "4", "groupKey": "{}:{}"}
    assert httpx.post(sink + "/hook/chat", json=payload).status_code == 200
    runtime.down(progress=lambda _: None)
    assert not client.containers.list(all=True, filters=label)
    assert not client.networks.list(filters=label)
    assert [v.name for v in client.volumes.list(filters=label)] == [f"labkit-{lab_id(config)}-sink"]
    runtime.up(["sink"], progress=lambda _: None)
    kept = httpx.get(sink + "/notifications", params={"alertname": "Kept"}).json()
    assert len(kept) == 1, "the sink's data did not survive down and up"
    runtime.down(progress=lambda _: None, volumes=True)
    for kind in (client.containers.list(all=True, filters=label),
                 client.networks.list(filters=label), client.volumes.list(filters=label)):
        assert not kind
