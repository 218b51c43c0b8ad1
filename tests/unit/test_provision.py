"""Finding and installing the stack's binaries, with no internet and no apt."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from labkit.errors import BinaryNotFound, ProvisionError
from labkit.runtime import provision
from labkit.runtime.provision import BINARIES, ensure_binary, find_binary, release_url


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH and a private cache, so nothing real on this machine is found."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _executable(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\necho fake\n")
    path.chmod(0o755)
    return path


def _release(project: str, version: str, names: list[str]) -> bytes:
    """A release tarball laid out like upstream's: one top folder holding the binaries."""
    buf = io.BytesIO()
    top = f"{project}-{version}.linux-amd64"
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in [*names, "LICENSE"]:
            data = f"#!/bin/sh\necho {name}\n".encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _fake_fetch(name: str, tarball: bytes, *, digest: str | None = None):
    """A fetch that serves one release's tarball and sha256sums.txt, recording each URL."""
    url = release_url(name)
    filename = url.rsplit("/", 1)[1]
    sums = (
        f"{'0' * 64}  other.tar.gz\n{digest or hashlib.sha256(tarball).hexdigest()}  {filename}\n"
    )
    served = {url: tarball, release_url(name, "sha256sums.txt"): sums.encode()}
    calls: list[str] = []

    def fetch(u: str, dest: Path) -> None:
        calls.append(u)
        dest.write_bytes(served[u])

    fetch.calls = calls  # type: ignore[attr-defined]
    return fetch


def test_find_binary_prefers_path(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A binary on PATH wins over one in the cache."""
    on_path = _executable(isolated / "path", "prometheus")
    _executable(isolated / "cache" / "bin", "prometheus")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert find_binary("prometheus") == on_path


@pytest.mark.parametrize(
    ("name", "debian_name"),
    [("alertmanager", "prometheus-alertmanager"), ("node_exporter", "prometheus-node-exporter")],
    ids=["alertmanager", "node_exporter"],
)
def test_find_binary_knows_debian_names(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, name: str, debian_name: str
) -> None:
    """Debian installs some binaries under another name; find_binary finds them by either."""
    debian = _executable(isolated / "usr-bin", debian_name)
    monkeypatch.setenv("PATH", str(debian.parent))
    assert find_binary(name) == debian


def test_find_binary_falls_back_to_cache(isolated: Path) -> None:
    """With nothing on PATH, the cache's bin/ is searched."""
    cached = _executable(isolated / "cache" / "bin", "amtool")
    assert find_binary("amtool") == cached


def test_find_binary_missing_returns_none() -> None:
    """A binary that is nowhere gives None, not an error."""
    assert find_binary("node_exporter") is None


def test_download_verifies_and_unpacks_every_binary(isolated: Path) -> None:
    """A verified release installs all its binaries (prometheus and promtool) into the cache."""
    spec = BINARIES["prometheus"]
    fetch = _fake_fetch(
        "prometheus", _release("prometheus", spec.version, ["prometheus", "promtool"])
    )
    messages: list[str] = []
    path = ensure_binary("prometheus", allow_apt=False, fetch=fetch, progress=messages.append)
    bin_dir = isolated / "cache" / "bin"
    assert path == bin_dir / "prometheus"
    assert (bin_dir / "promtool").stat().st_mode & 0o111
    assert not (bin_dir / "LICENSE").exists()
    assert fetch.calls[0].endswith("/v3.5.0/sha256sums.txt")
    assert any("installed" in m for m in messages)
    # The second call finds the cached binary and downloads nothing.
    assert ensure_binary("promtool", allow_apt=False, fetch=None) == bin_dir / "promtool"


def test_checksum_mismatch_installs_nothing(isolated: Path) -> None:
    """A tarball whose digest differs from sha256sums.txt is refused and nothing is unpacked."""
    spec = BINARIES["alertmanager"]
    fetch = _fake_fetch(
        "alertmanager",
        _release("alertmanager", spec.version, ["alertmanager", "amtool"]),
        digest="f" * 64,
    )
    with pytest.raises(ProvisionError, match=r"checksum mismatch for alertmanager-0\.28\.1"):
        ensure_binary("alertmanager", allow_apt=False, fetch=fetch, progress=lambda _: None)
    assert list((isolated / "cache" / "bin").iterdir()) == []


def test_missing_checksum_entry_is_an_error() -> None:
    """A sha256sums.txt that does not list the tarball is refused."""

    def fetch(url: str, dest: Path) -> None:
        dest.write_bytes(b"abc  something-else.tar.gz\n" if url.endswith(".txt") else b"x")

    with pytest.raises(ProvisionError, match="lists no checksum"):
        ensure_binary("node_exporter", allow_apt=False, fetch=fetch, progress=lambda _: None)


def test_not_installable_says_what_to_install() -> None:
    """With apt and downloads off, a missing binary names the Debian package to install."""
    with pytest.raises(BinaryNotFound, match="apt-get install prometheus-alertmanager") as info:
        ensure_binary("alertmanager", allow_apt=False, allow_download=False)
    assert info.value.service == "alertmanager"


def test_unknown_binary_is_refused() -> None:
    """Only the stack's binaries can be installed; a typo says which ones exist."""
    with pytest.raises(ProvisionError, match="knows: alertmanager, amtool"):
        ensure_binary("prometheus2")


def test_apt_is_used_when_available(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Debian as root the Debian package is installed, and its binary is returned."""
    installed: list[str] = []

    def fake_apt(package: str, progress: object) -> None:
        installed.append(package)
        _executable(isolated / "empty-path", "prometheus-node-exporter")

    monkeypatch.setattr(provision, "_can_use_apt", lambda: True)
    monkeypatch.setattr(provision, "_apt_install", fake_apt)
    path = ensure_binary("node_exporter", allow_download=False)
    assert installed == ["prometheus-node-exporter"]
    assert path.name == "prometheus-node-exporter"
