"""Provisioning order: PATH, cache (release, Go build), release download, Go build, Debian.

No internet and no apt here: downloads go through an injected fetch, the Go build is
replaced by a stand-in that writes an executable (the real builds are in test_gobuild.py),
and Debian's ownership of a file comes from a private dpkg file list.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from labkit.errors import BinaryNotFound, ProvisionError
from labkit.runtime import provision
from labkit.runtime.download import platform_tag, release_dir
from labkit.runtime.gobuild import go_dir
from labkit.runtime.provision import ensure_binary, find_binary, locate
from labkit.runtime.versions import PINNED


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH, a private cache and dpkg list, so nothing real on this machine is found."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    (tmp_path / "dpkg").mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(provision, "DPKG_INFO", tmp_path / "dpkg")
    monkeypatch.setattr(provision, "_can_use_apt", lambda: False)
    return tmp_path


def _executable(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho {name}\n")
    path.chmod(0o755)
    return path


def _debian(isolated: Path, package: str, name: str) -> Path:
    """An executable in a fake /usr/bin that the fake dpkg lists as ``package``'s."""
    path = _executable(isolated / "usr-bin", name)
    (isolated / "dpkg" / f"{package}.list").write_text(f"/usr/bin\n{path}\n")
    return path


def _fake_go(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the Go build with one that writes the project's executables; record calls."""
    built: list[str] = []

    def go_build(entry, *, progress):  # type: ignore[no-untyped-def]
        built.append(entry.project)
        for exe in entry.executables:
            _executable(go_dir(entry), exe)
        return go_dir(entry)

    monkeypatch.setattr(provision, "go_available", lambda: "/usr/local/go/bin/go")
    monkeypatch.setattr(provision, "go_build", go_build)
    return built


def _no_internet(url: str, dest: Path) -> None:
    raise ProvisionError(f"download of {url} failed: [Errno -3] name resolution")


def test_path_wins_over_the_cache(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A prometheus the user put on PATH wins over labkit's cached build."""
    on_path = _executable(isolated / "path", "prometheus")
    _executable(go_dir(PINNED["prometheus"]), "prometheus")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert locate("prometheus") == provision.Found(on_path, "path")


def test_debian_package_ranks_after_the_cache(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian's old prometheus on PATH is used only when no pinned build is cached."""
    debian = _debian(isolated, "prometheus", "prometheus")
    monkeypatch.setenv("PATH", str(debian.parent))
    assert locate("prometheus") == provision.Found(debian, "apt")
    built = _executable(go_dir(PINNED["prometheus"]), "prometheus")
    assert locate("prometheus") == provision.Found(built, "go build")


@pytest.mark.parametrize(
    ("name", "package", "debian_name"),
    [("alertmanager", "prometheus-alertmanager", "prometheus-alertmanager"),
     ("node_exporter", "prometheus-node-exporter", "prometheus-node-exporter")],
    ids=["alertmanager", "node_exporter"],
)
def test_debian_names_are_found(isolated: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                package: str, debian_name: str) -> None:
    """Debian installs some binaries under another name; they are found by either."""
    debian = _debian(isolated, package, debian_name)
    monkeypatch.setenv("PATH", str(debian.parent))
    assert find_binary(name) == debian


def test_cached_release_wins_over_cached_go_build() -> None:
    """Both cached at the pinned version: the release is the one used."""
    release = _executable(release_dir(PINNED["alertmanager"]), "amtool")
    _executable(go_dir(PINNED["alertmanager"]), "amtool")
    assert locate("amtool") == provision.Found(release, "release")


def test_another_version_in_the_cache_is_not_used() -> None:
    """A build of an older pin does not count: the cache is keyed by version."""
    _executable(go_dir(PINNED["prometheus"]).parent / "3.5.0", "promtool")
    assert find_binary("promtool") is None


def test_release_first_then_go_build(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, the release download fails fast and the Go build at the same pin is used."""
    built = _fake_go(isolated, monkeypatch)
    urls: list[str] = []
    messages: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        urls.append(url)
        _no_internet(url, dest)

    path = ensure_binary("prometheus", fetch=fetch, progress=messages.append)
    assert path == go_dir(PINNED["prometheus"]) / "prometheus"
    assert built == ["prometheus"]
    assert urls == ["https://github.com/prometheus/prometheus/releases/download/v3.16.0/"
                    "sha256sums.txt"]
    assert any("no release download" in m for m in messages)
    # promtool came with the same build: nothing more is built or fetched.
    assert ensure_binary("promtool", fetch=fetch) == go_dir(PINNED["prometheus"]) / "promtool"
    assert built == ["prometheus"] and len(urls) == 1


def test_verified_release_is_used_before_go(isolated: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With the release reachable, it is downloaded, verified and used; Go is not run."""
    built = _fake_go(isolated, monkeypatch)
    entry = PINNED["alertmanager"]
    os_name, arch = platform_tag()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("alertmanager", "amtool", "LICENSE"):
            info = tarfile.TarInfo(f"alertmanager-{entry.version}.{os_name}-{arch}/{name}")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"#!\n"))
    url = entry.url(entry.release_url, os_name, arch)
    served = {url: buf.getvalue(), entry.url(entry.checksums_url, os_name, arch):
              f"{hashlib.sha256(buf.getvalue()).hexdigest()}  {url.rsplit('/', 1)[1]}\n".encode()}
    path = ensure_binary("amtool", fetch=lambda u, d: d.write_bytes(served[u]),
                         progress=lambda _: None)
    assert path == release_dir(entry) / "amtool" and locate("amtool").origin == "release"
    assert not (release_dir(entry) / "LICENSE").exists()
    assert built == []


def test_installed_debian_package_is_the_last_resort(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No release, no Go: Debian's package already installed is used."""
    debian = _debian(isolated, "prometheus", "promtool")
    monkeypatch.setenv("PATH", str(debian.parent))
    assert ensure_binary("promtool", fetch=_no_internet, progress=lambda _: None) == debian


def test_from_source_forces_the_go_build(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--from-source builds even when a binary is on PATH, and never downloads."""
    built = _fake_go(isolated, monkeypatch)
    monkeypatch.setenv("PATH", str(_executable(isolated / "path", "jaeger").parent))
    path = ensure_binary("jaeger", from_source=True, fetch=_no_internet)
    assert path == go_dir(PINNED["jaeger"]) / "jaeger" and built == ["jaeger"]


def test_offline_setting_skips_the_download(isolated: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """LABKIT_OFFLINE=1 goes straight to the Go build."""
    _fake_go(isolated, monkeypatch)
    monkeypatch.setenv("LABKIT_OFFLINE", "1")

    def fetch(url: str, dest: Path) -> None:
        raise AssertionError(f"fetched {url}")

    assert ensure_binary("node_exporter", fetch=fetch).parent == go_dir(PINNED["node_exporter"])


def test_not_installable_lists_every_way(isolated: Path) -> None:
    """Nothing worked: the error names the release, the Go module and the Debian package."""
    with pytest.raises(BinaryNotFound) as info:
        ensure_binary("alertmanager", allow_go=False, fetch=_no_internet,
                      progress=lambda _: None)
    message = str(info.value)
    assert "release 0.35.0" in message
    assert "github.com/prometheus/alertmanager@v0.35.0" in message
    assert "apt-get install prometheus-alertmanager" in message
    assert "Tried: release 0.35.0: download of" in message
    assert info.value.service == "alertmanager"


def test_loki_has_no_go_build_or_apt(isolated: Path) -> None:
    """Loki (AGPL) is never built: only PATH or its release."""
    with pytest.raises(BinaryNotFound) as info:
        ensure_binary("loki", fetch=_no_internet, progress=lambda _: None)
    assert "from-source" not in str(info.value) and "apt-get" not in str(info.value)


def test_unknown_binary_is_refused() -> None:
    """Only the stack's binaries can be installed; a typo says which ones exist."""
    with pytest.raises(ProvisionError, match="knows: prometheus, promtool, alertmanager"):
        ensure_binary("prometheus2")


def test_apt_is_used_when_nothing_else_works(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Debian as root, with no release and no Go, the Debian package is installed."""
    installed: list[str] = []

    def fake_apt(package: str, progress: object) -> None:
        installed.append(package)
        _debian(isolated, package, "prometheus-node-exporter")
        monkeypatch.setenv("PATH", str(isolated / "usr-bin"))

    monkeypatch.setattr(provision, "_can_use_apt", lambda: True)
    monkeypatch.setattr(provision, "_apt_install", fake_apt)
    path = ensure_binary("node_exporter", allow_go=False, fetch=_no_internet,
                         progress=lambda _: None)
    assert installed == ["prometheus-node-exporter"]
    assert path.name == "prometheus-node-exporter"
