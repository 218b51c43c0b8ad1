"""The real Jaeger v2's config: every listener on the lab's host and ports, either storage."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labkit.runtime.templates import render


def _endpoints(node: object) -> list[str]:
    """Every `endpoint:` value anywhere in the config."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "endpoint" and isinstance(v, str)] + [
            e for v in node.values() for e in _endpoints(v)]
    if isinstance(node, list):
        return [e for v in node for e in _endpoints(v)]
    return []


@pytest.mark.parametrize("storage", ["badger", "memory"])
def test_every_listener_is_on_loopback_with_the_offset(tmp_path: Path, storage: str) -> None:
    """Query HTTP, query gRPC and OTLP/HTTP listen on 127.0.0.1 at the offset ports only."""
    config = render("jaeger/config.yaml.j2", tmp_path / "config.yaml", host="127.0.0.1",
                    query_port=17686, otlp_port=5318, query_grpc_port=17685,
                    data_dir=str(tmp_path / "data"), storage=storage)
    doc = yaml.safe_load(config.read_text())
    assert sorted(_endpoints(doc)) == ["127.0.0.1:17685", "127.0.0.1:17686", "127.0.0.1:5318"]
    assert doc["service"]["telemetry"]["metrics"]["level"] == "none"  # no 0.0.0.0:8888
    backend = doc["extensions"]["jaeger_storage"]["backends"]["lab_store"]
    assert list(backend) == [storage]
    if storage == "badger":
        assert backend["badger"]["directories"]["keys"] == f"{tmp_path / 'data'}/keys"


def test_the_local_runtime_passes_the_grpc_port(tmp_path: Path) -> None:
    """The catalog's jaeger launch renders the gRPC query port with the lab's offset."""
    from labkit.config import LabConfig
    from labkit.runtime import catalog
    from labkit.runtime.catalog import ServiceContext

    spec = catalog.get("jaeger")
    cfg = LabConfig(run_dir=tmp_path, port_offset=1000)
    ctx = ServiceContext(config=cfg, run_dir=tmp_path, data_dir=tmp_path / "d", urls={},
                         ports={k: cfg.port(p) for k, p in spec.ports.items()})
    argv = spec.launches[0].args(ctx)
    doc = yaml.safe_load(Path(argv[-1]).read_text())
    assert doc["extensions"]["jaeger_query"]["grpc"]["endpoint"] == "127.0.0.1:17685"
