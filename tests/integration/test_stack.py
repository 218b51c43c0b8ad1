"""The real stack: requests through the gateway with the official openai client land in
Prometheus; up is idempotent; down leaves nothing behind; start-up failures say why."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from labkit.config import LabConfig
from labkit.errors import PortInUse, ServiceStartError
from labkit.lab import Lab, connect
from labkit.runtime.local import LocalRuntime
from labkit.runtime.process import is_alive
from labkit.runtime.provision import find_binary
from labkit.runtime.state import LabState
from tests.conftest import (
    BUSY_PORT_TEST_OFFSET,
    CONTEXT_MANAGER_TEST_OFFSET,
    CRASH_TEST_OFFSET,
    DOWN_TEST_OFFSET,
)

pytestmark = pytest.mark.integration


def test_openai_client_requests_show_up_in_prometheus(lab_stack: Lab) -> None:
    """Completions sent with the openai client are counted by the gateway and scraped."""
    client = lab_stack.openai()
    prom = lab_stack.prometheus
    before = prom.scalar('sum(llm_requests_total{status="success"})', default=0.0)
    reply = client.chat.completions.create(
        model="labkit-tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=8)
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 8
    assert (reply.choices[0].finish_reason == "length") == (reply.usage.completion_tokens == 8)
    stream = client.chat.completions.create(
        model="labkit-tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4,
        stream=True)
    pieces = [c.choices[0].delta.content for c in stream
              if c.choices and c.choices[0].delta.content]
    assert 0 < len(pieces) <= 4
    prom.wait_for('sum(llm_requests_total{status="success"})',
                  lambda f: not f.empty and f.value.sum() >= before + 2, timeout=30)
    prom.wait_for("sum(llamacpp:tokens_predicted_total)",
                  lambda f: not f.empty and f.value.sum() >= 12, timeout=30)


def test_openai_client_sees_gateway_errors(lab_stack: Lab) -> None:
    """An unknown model comes back to the openai client as a NotFoundError."""
    import openai

    with pytest.raises(openai.NotFoundError, match="does not exist"):
        lab_stack.openai().chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "x"}])


def test_every_target_is_scraped(lab_stack: Lab) -> None:
    """Prometheus scrapes llama-server, the gateway, itself and the node exporter."""
    jobs = {"llama-server", "llm-api", "prometheus"} | ({"node"} if find_binary("node_exporter")
                                                          else set())
    # Each target's first scrape comes at its own offset within the interval: on a lab that
    # has just started, wait for all of them rather than read one instant. A job that never
    # shows up healthy within 30 s fails the test (QueryError).
    lab_stack.prometheus.wait_for(
        "up", lambda f: not f.empty and jobs <= set(f.job) and f.value.min() == 1, timeout=30)


def test_rendered_prometheus_config_passes_promtool(lab_stack: Lab) -> None:
    """`promtool check config` accepts the rendered configuration and its rules."""
    promtool = find_binary("promtool")
    assert promtool, "promtool is not installed: run `labkit install`"
    config = lab_stack.config.run_dir / "prometheus" / "prometheus.yml"
    result = subprocess.run([str(promtool), "check", "config", str(config)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_up_twice_changes_nothing(lab_stack: Lab) -> None:
    """A second `up` starts nothing new and reports what runs."""
    before = LabState.load(lab_stack.config.state_file)
    assert before is not None
    lines: list[str] = []
    after = LocalRuntime(lab_stack.config).up(progress=lines.append)
    assert {n: s.pid for n, s in after.services.items()} == \
        {n: s.pid for n, s in before.services.items()}
    # Optional services with nothing to run here (Grafana without a binary, the GPU exporter
    # without a GPU) say "skipped" again; everything else is already running.
    assert all("already running" in line or "skipped" in line for line in lines), lines
    assert any("already running" in line for line in lines)


def test_status_reports_every_service_healthy(lab_stack: Lab) -> None:
    """`status` shows one healthy row per service with its URL, pid and uptime."""
    rows = LocalRuntime(lab_stack.config).status()
    assert {r.service for r in rows} >= {"llama-server", "gateway", "prometheus", "loki",
                                          "jaeger", "alertmanager", "sink", "shipper"}
    for row in rows:
        assert row.health in ("healthy", "up"), row
        assert row.pid and row.uptime_s is not None and row.uptime_s >= 0


def test_connect_finds_the_running_lab(lab_env: Path) -> None:
    """connect() reads the state file the lab wrote and reaches the gateway."""
    lab = connect()
    assert httpx.get(lab.gateway_url + "/health").status_code == 200


def test_connect_prefers_explicit_urls(lab_stack: Lab) -> None:
    """LABKIT_*_URL variables point notebooks at a remote stack without a state file."""
    lab = connect(LabConfig(run_dir=Path("/nonexistent")),
                  env={"LABKIT_PROMETHEUS_URL": lab_stack.url("prometheus") + "/"})
    assert lab.url("prometheus") == lab_stack.url("prometheus")
    with lab.prometheus as prometheus:
        assert not prometheus.query("up").empty


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_down_leaves_no_process(tmp_path: Path) -> None:
    """`down` stops every process `up` started, children included, and frees the ports."""
    config = LabConfig(run_dir=tmp_path, port_offset=DOWN_TEST_OFFSET)
    runtime = LocalRuntime(config)
    state = runtime.up(["llama-server", "gateway", "prometheus"], progress=lambda _: None)
    pids = [s.pid for s in state.services.values()]
    children = [c.pid for p in pids for c in psutil.Process(p).children(recursive=True)]
    runtime.down(progress=lambda _: None)
    assert not [p for p in pids + children if is_alive(p)]
    assert all(_free(config.port(p)) for p in (8081, 8000, 9090))
    assert runtime.status() == []


def test_busy_port_fails_clearly_and_cleans_up(tmp_path: Path) -> None:
    """A busy gateway port names the service and port, and what started is stopped again."""
    config = LabConfig(run_dir=tmp_path, port_offset=BUSY_PORT_TEST_OFFSET)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", config.port(8000)))
        sock.listen()
        with pytest.raises(PortInUse, match=f"gateway cannot start: port 127.0.0.1:"
                                            f"{config.port(8000)} is already in use"):
            LocalRuntime(config).up(["llama-server", "gateway"], progress=lambda _: None)
    assert _free(config.port(8081)), "llama-server was left running after the failure"


def test_service_crashing_at_start_shows_its_log(tmp_path: Path) -> None:
    """llama-server given a broken model fails with its exit and its own last log lines."""
    model = tmp_path / "broken.gguf"
    model.write_bytes(b"not a gguf file at all")
    config = LabConfig(run_dir=tmp_path / "run", port_offset=CRASH_TEST_OFFSET, model=model,
                       start_timeout=30)
    with pytest.raises(ServiceStartError, match=r"(?s)llama-server exited .*Last lines of"):
        LocalRuntime(config).up(["llama-server"], progress=lambda _: None)


def test_labkit_load_command_drives_traffic(lab_env: Path) -> None:
    """`labkit load` finds the running lab, sends traffic and prints its summary."""
    from labkit.cli import main

    assert main(["load", "--rate", "4", "--duration", "2", "--max-tokens", "4", "--quiet"]) == 0


def test_labkit_status_and_logs_commands(lab_env: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    """`labkit status` prints the table; `labkit logs gateway` prints the gateway's log."""
    from labkit.cli import main

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "SERVICE" in out and "gateway" in out and "healthy" in out
    assert main(["logs", "llama-server", "-n", "5"]) == 0
    assert capsys.readouterr().out.strip()


def test_lab_context_manager_stops_only_what_it_started(tmp_path: Path) -> None:
    """`with Lab()` stops the services it started, and leaves running what already ran."""
    config = LabConfig(run_dir=tmp_path, port_offset=CONTEXT_MANAGER_TEST_OFFSET)
    runtime = LocalRuntime(config)
    runtime.up(["llama-server"], progress=lambda _: None)
    try:
        with Lab(config) as lab:
            assert {"llama-server", "gateway", "prometheus"} <= runtime.running()
            assert httpx.get(lab.gateway_url + "/health").status_code == 200
        assert runtime.running() == {"llama-server"}
    finally:
        runtime.down(progress=lambda _: None)
    assert runtime.running() == set()
