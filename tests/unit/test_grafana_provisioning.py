"""Grafana's provisioning: runtime-neutral, filled in for the local runtime, no secret committed."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest
import yaml

from labkit.errors import ProvisionError
from labkit.runtime import grafana
from labkit.runtime.templates import stack_dir

VALUES = {"LABKIT_PROMETHEUS_URL": "http://127.0.0.1:9090", "LABKIT_LOKI_URL": "http://l:3100",
          "LABKIT_JAEGER_URL": "http://j:16686", "LABKIT_ALERTMANAGER_URL": "http://a:9093",
          "LABKIT_SCRAPE_INTERVAL": "2s", "LABKIT_GRAFANA_DASHBOARDS": "/dash"}


def _rendered(tmp_path: Path) -> dict[str, dict]:
    out = grafana.render_provisioning(tmp_path, VALUES)
    return {p.parent.name: yaml.safe_load(p.read_text()) for p in out.rglob("*.yaml")}


def test_datasources_link_metrics_logs_and_traces(tmp_path: Path) -> None:
    """Exemplars → Jaeger, log trace_id → Jaeger, traces → Loki and Prometheus, Alertmanager."""
    ds = {d["uid"]: d for d in _rendered(tmp_path)["datasources"]["datasources"]}
    assert set(ds) == {"prometheus", "loki", "jaeger", "alertmanager"}
    assert ds["prometheus"]["url"] == "http://127.0.0.1:9090"
    assert ds["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] \
        == "jaeger"
    field = ds["loki"]["jsonData"]["derivedFields"][0]
    assert field["datasourceUid"] == "jaeger"
    line = '{"level": "INFO", "trace_id": "' + "ab" * 16 + '"}'
    assert re.search(field["matcherRegex"], line).group(1) == "ab" * 16
    assert field["url"] == "$${__value.raw}"  # Grafana's escape survives for Grafana
    assert ds["jaeger"]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert ds["jaeger"]["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"


def test_dashboards_are_provisioned_from_the_generated_folder(tmp_path: Path) -> None:
    """The file provider points at the dashboards folder it was given."""
    provider = _rendered(tmp_path)["dashboards"]["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/dash"


def test_an_unset_variable_is_an_error_naming_it(tmp_path: Path) -> None:
    """A provisioning file that needs a URL labkit did not set fails loudly."""
    with pytest.raises(ProvisionError, match="LABKIT_LOKI_URL"):
        grafana.render_provisioning(tmp_path, {k: v for k, v in VALUES.items()
                                               if k != "LABKIT_LOKI_URL"})


def test_no_password_is_committed_and_grafana_binds_loopback() -> None:
    """The committed Grafana files hold no password; the ini binds the given host."""
    for path in (stack_dir() / "grafana").rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".j2", ".ini"):
            text = path.read_text()
            assert not re.search(r"password\s*[:=]\s*[^\s\[$]", text, re.I), path
    ini = (stack_dir() / "grafana" / "grafana.ini.j2").read_text()
    assert "http_addr = [[ host ]]" in ini and "org_role = Viewer" in ini


def test_the_admin_password_is_generated_once_private_or_from_env(tmp_path: Path) -> None:
    """Generated into the run dir with mode 600 and reused; the env variable wins."""
    first = grafana.admin_password(tmp_path, env={})
    assert len(first) >= 20 and grafana.admin_password(tmp_path, env={}) == first
    assert (tmp_path / "grafana" / "admin-password").stat().st_mode & 0o777 == 0o600
    assert grafana.admin_password(tmp_path, env={grafana.PASSWORD_ENV: "s3cret"}) == "s3cret"


def _tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in (("grafana-v/bin/grafana", b"#!/bin/sh\n"),
                           ("grafana-v/conf/defaults.ini", b"")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o755
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def test_the_release_is_installed_only_when_its_checksum_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong SHA-256 installs nothing; the right one unpacks the release into the cache."""
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    archive = _tarball()

    def fetch(digest: str):  # type: ignore[no-untyped-def]
        def _fetch(url: str, dest: Path) -> None:
            dest.write_bytes(f"{digest}  grafana.tar.gz\n".encode() if url.endswith(".sha256")
                             else archive)
        return _fetch

    with pytest.raises(ProvisionError, match="checksum mismatch"):
        grafana.ensure_grafana(fetch("0" * 64))
    assert grafana.find_grafana() is None
    binary = grafana.ensure_grafana(fetch(hashlib.sha256(archive).hexdigest()))
    assert binary.is_file() and grafana.find_grafana() == binary
    assert grafana.grafana_home(binary) == binary.parent.parent
