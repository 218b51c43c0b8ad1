"""Go builds with the real ``go`` command, from a local file-based module proxy.

The proxy (``GOPROXY=file://...``) serves a tiny module the way proxy.golang.org serves
Prometheus: ``@v/list``, ``.info``, ``.mod`` and the module zip. Building it exercises the
same commands as a Prometheus or Jaeger build, in seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from labkit.errors import ProvisionError
from labkit.runtime.gobuild import build_info, cached_go_build, go_build, go_dir
from labkit.runtime.versions import GoBuild, Pinned

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")

MODULE = "example.com/hello"
MAIN = """package main

import "fmt"

var version = "unset"

func main() { fmt.Println("hello", version) }
"""


def _publish(proxy: Path, version: str, files: dict[str, str]) -> None:
    """Write one module version into a file-based GOPROXY."""
    base = proxy / MODULE / "@v"
    base.mkdir(parents=True, exist_ok=True)
    with (base / "list").open("a") as listing:
        listing.write(version + "\n")
    (base / f"{version}.info").write_text(json.dumps({"Version": version,
                                                      "Time": "2026-01-01T00:00:00Z"}))
    (base / f"{version}.mod").write_text(files["go.mod"])
    with zipfile.ZipFile(base / f"{version}.zip", "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{MODULE}@{version}/{name}", text)


@pytest.fixture
def proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file proxy with three versions: fine, one with a replace directive, one broken."""
    root = tmp_path / "proxy"
    mod = f"module {MODULE}\n\ngo 1.22\n"
    _publish(root, "v1.0.0", {"go.mod": mod, "cmd/hello/main.go": MAIN})
    _publish(root, "v1.1.0", {"go.mod": mod + "\nreplace example.com/nothing => ./nothing\n",
                              "cmd/hello/main.go": MAIN})
    _publish(root, "v1.2.0", {"go.mod": mod, "cmd/hello/main.go": MAIN + "func broken( {\n"})
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GOPROXY", f"file://{root}")
    monkeypatch.setenv("GOSUMDB", "off")
    monkeypatch.setenv("GOFLAGS", "-modcacherw")
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))
    monkeypatch.setenv("GOTOOLCHAIN", "local")
    return root


def _entry(version: str, *, build_module: bool = False) -> Pinned:
    return Pinned("hello", version.lstrip("v"), ("hello",),
                  go=GoBuild(MODULE, version, {"hello": "cmd/hello"},
                             "-X main.version={version}/{module_version}",
                             needs_build_module=build_module))


def test_go_install_builds_into_the_versioned_cache(proxy: Path) -> None:
    """`go install MODULE/cmd/NAME@VERSION` lands in go/<project>/<version>/ with its ldflags."""
    messages: list[str] = []
    entry = _entry("v1.0.0")
    folder = go_build(entry, progress=messages.append)
    assert folder == go_dir(entry) and folder.parts[-2:] == ("hello", "1.0.0")
    hello = cached_go_build(entry, "hello")
    assert hello is not None
    out = subprocess.run([hello], capture_output=True, text=True, check=True).stdout
    assert out == "hello 1.0.0/v1.0.0\n"
    info = build_info(entry)
    assert info is not None and info.module_version == "v1.0.0" and info.go.startswith("go1.")
    assert any(m.startswith("built hello 1.0.0 in ") for m in messages)


def test_module_with_replace_directives_needs_a_build_module(proxy: Path) -> None:
    """`go install @version` refuses a go.mod with replace; the error names module and version."""
    with pytest.raises(ProvisionError) as info:
        go_build(_entry("v1.1.0"), progress=lambda _: None)
    message = str(info.value)
    assert "go build of example.com/hello@v1.1.0 (hello 1.1.0) failed" in message
    assert "replace directives" in message  # from the last lines of the build log
    assert cached_go_build(_entry("v1.1.0"), "hello") is None


def test_build_module_builds_a_module_with_replace_directives(proxy: Path) -> None:
    """Through a throwaway module (`go get -tool`), the same version builds."""
    entry = _entry("v1.1.0", build_module=True)
    hello = go_build(entry, progress=lambda _: None) / "hello"
    out = subprocess.run([hello], capture_output=True, text=True, check=True).stdout
    assert out == "hello 1.1.0/v1.1.0\n"


def test_compile_error_shows_the_last_lines_of_the_log(proxy: Path) -> None:
    """A broken version fails with the compiler's message; nothing is cached, the log stays."""
    entry = _entry("v1.2.0")
    with pytest.raises(ProvisionError, match=r"example\.com/hello@v1\.2\.0.*main\.go:\d+") as info:
        go_build(entry, progress=lambda _: None)
    assert "Last lines of" in str(info.value)
    assert not go_dir(entry).exists()
    assert (go_dir(entry).parent / "1.2.0.build.log").read_text().strip()


def test_missing_go_says_what_to_install(proxy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `go` on PATH the error says to install Go."""
    monkeypatch.setenv("PATH", str(proxy))
    with pytest.raises(ProvisionError, match="needs the Go toolchain"):
        go_build(_entry("v1.0.0"), progress=lambda _: None)
