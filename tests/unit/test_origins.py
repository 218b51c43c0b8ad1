"""What runs, which version, from where: what `labkit doctor`, `status` and the test log print."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.runtime import catalog, provision
from labkit.runtime.gobuild import go_dir
from labkit.runtime.origins import NO_UI_NOTE, binary_version, service_origin
from labkit.runtime.versions import PINNED


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing on PATH, a private cache, no Debian packages."""
    (tmp_path / "path").mkdir()
    (tmp_path / "dpkg").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(provision, "DPKG_INFO", tmp_path / "dpkg")
    return tmp_path


def _script(path: Path, output: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # printf is a shell builtin: the tests' PATH holds no cat.
    assert "'" not in output
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(("name", "output", "version"), [
    ("prometheus", "prometheus, version 3.16.0 (branch: HEAD, revision: v0.316.0)\n"
                   "  build user: labkit-go-build", "3.16.0"),
    ("prometheus", "prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5)",
     "2.42.0+ds"),
    ("jaeger", '{"gitCommit":"v1.76.0","gitVersion":"v2.13.0","buildDate":""}', "2.13.0"),
    ("loki", "loki, version 3.7.8 (branch: HEAD, revision: 1234abcd)", "3.7.8"),
    ("amtool", "no version here", "unknown"),
], ids=["prometheus-3", "debian-2.42", "jaeger-json", "loki", "unparsable"])
def test_binary_version_reads_what_the_program_says(isolated: Path, name: str, output: str,
                                                   version: str) -> None:
    """Each program's own version output is parsed into a plain version."""
    assert binary_version(_script(isolated / "bin" / name, output), name) == version


def test_jaeger_version_is_its_json_not_the_module_version_it_logs(isolated: Path) -> None:
    """The real jaeger also logs "git-commit=v1.76.0" (its Go module) on stderr: not its version."""
    path = isolated / "bin" / "jaeger"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n"
                    "printf '%s\\n' '2026/12/02 application version: git-commit=v1.76.0, "
                    "git-version=v2.13.0, build-date=' >&2\n"
                    "printf '%s\\n' '{\"gitCommit\":\"v1.76.0\",\"gitVersion\":\"v2.13.0\"}'\n")
    path.chmod(0o755)
    assert binary_version(path, "jaeger") == "2.13.0"


def test_go_built_prometheus_is_reported_with_the_missing_ui(isolated: Path) -> None:
    """A Go-built prometheus reports its version, 'go build' and the no-UI note."""
    _script(go_dir(PINNED["prometheus"]) / "prometheus", "prometheus, version 3.16.0 (x)")
    origin = service_origin(catalog.get("prometheus"))
    assert origin is not None
    assert (origin.program, origin.version, origin.origin) == ("prometheus", "3.16.0",
                                                               "go build")
    assert origin.note == NO_UI_NOTE and "no web UI" in origin.line()


def test_stand_in_is_marked(isolated: Path) -> None:
    """Without a loki binary, the Loki service is labkit's stand-in, and says so."""
    origin = service_origin(catalog.get("loki"))
    assert origin is not None and origin.origin == "stand-in" and origin.program == "labkit"


def test_real_binary_wins_over_the_stand_in(isolated: Path) -> None:
    """A jaeger on PATH is what runs, reported with its version and origin 'path'."""
    _script(isolated / "path" / "jaeger", '{"gitVersion":"v2.13.0"}')
    origin = service_origin(catalog.get("jaeger"))
    assert origin is not None
    assert (origin.version, origin.origin) == ("2.13.0", "path")


def test_missing_required_binary_gives_none(isolated: Path) -> None:
    """No alertmanager anywhere: there is nothing to report, so doctor says to install it."""
    assert service_origin(catalog.get("alertmanager")) is None
