"""Official release archives: download, verify the SHA-256, unpack, cache by version.

``download_release(PINNED["loki"])`` fetches the pinned archive for this platform, checks it
against the digest pinned in the table or listed in the release's checksum file, unpacks it
(tar.gz or zip) and moves the result into ``cache_dir()/release/<project>/<version>/`` in
one rename, so a failed or interrupted download leaves nothing behind. A mismatch installs
nothing. The fetch is injectable: tests serve archives from a local HTTP server.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from labkit.errors import ProvisionError
from labkit.runtime.paths import cache_dir
from labkit.runtime.versions import Pinned

__all__ = ["Fetch", "cached_release", "default_fetch", "download_release", "platform_tag",
           "release_dir"]

Fetch = Callable[[str, Path], None]
"""Download a URL into a file; injected so tests need no internet."""

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def platform_tag() -> tuple[str, str]:
    """This machine as a release names it: ``("linux", "amd64")``."""
    os_name = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    arch = _ARCH.get(platform.machine().lower())
    if os_name is None or arch is None:
        raise ProvisionError(f"no prebuilt release for {sys.platform}/{platform.machine()}")
    return os_name, arch


def default_fetch(url: str, dest: Path) -> None:
    """Stream ``url`` into ``dest`` with httpx; offline, it fails within seconds."""
    import httpx

    try:
        timeout = httpx.Timeout(60.0, connect=5.0)
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
            response.raise_for_status()
            with dest.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise ProvisionError(f"download of {url} failed: {exc}") from exc


def release_dir(entry: Pinned) -> Path:
    """Where ``entry``'s release is (or would be) unpacked."""
    return cache_dir() / "release" / entry.project / entry.version


def cached_release(entry: Pinned, executable: str) -> Path | None:
    """The executable from an already downloaded release at the pinned version, if any."""
    root = release_dir(entry)
    for candidate in (root / executable, root / "bin" / executable):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _expected_digest(entry: Pinned, tag: str, filename: str, sums_text: str, url: str) -> str:
    if tag in entry.sha256:
        return entry.sha256[tag].lower()
    if entry.single_digest:
        words = sums_text.split()
        if words and len(words[0]) == 64:
            return words[0].lower()
        raise ProvisionError(f"{url} holds no SHA-256 digest")
    for line in sums_text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*").rsplit("/", 1)[-1] == filename:
            return parts[0].lower()
    raise ProvisionError(f"{url} lists no checksum for {filename}")


def _unpack(archive: Path, into: Path) -> None:
    """Unpack a tar.gz or zip, refusing members that would land outside ``into``."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    target = (into / info.filename).resolve()
                    if not target.is_relative_to(into.resolve()):
                        raise ProvisionError(f"{archive.name}: member {info.filename!r} "
                                             "points outside the archive")
                zf.extractall(into)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(into, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise ProvisionError(f"cannot unpack {archive.name}: {exc}") from exc


def _collect(entry: Pinned, unpacked: Path, into: Path, os_name: str, arch: str) -> list[str]:
    """Move the executables out of the unpacked tree (or keep it whole when one is in bin/)."""
    names = {m.format(os=os_name, arch=arch): exe for m, exe in entry.archive_names.items()}
    names.update({exe: exe for exe in entry.executables})
    found: dict[str, Path] = {}
    for path in sorted(unpacked.rglob("*")):
        if path.is_file() and path.name in names:
            found.setdefault(names[path.name], path)
    missing = [exe for exe in entry.executables if exe not in found]
    if missing:
        raise ProvisionError(f"the {entry.project} {entry.version} archive holds no "
                             f"{', '.join(missing)}")
    tops = [p for p in unpacked.iterdir()]
    if any(p.parent.name == "bin" for p in found.values()) and len(tops) == 1:
        # A whole distribution (Grafana: bin/, conf/, public/): keep the tree as it is.
        for child in tops[0].iterdir():
            child.replace(into / child.name)
        for exe in entry.executables:
            (into / "bin" / exe).chmod(0o755)
    else:
        for exe, path in found.items():
            path.chmod(0o755)
            path.replace(into / exe)
    return sorted(found)


def download_release(entry: Pinned, *, fetch: Fetch | None = None,
                     progress: Callable[[str], object] = print) -> Path:
    """Download, verify and unpack ``entry``'s release; return the folder it is cached in."""
    if not entry.release_url:
        raise ProvisionError(f"{entry.project} has no release archive to download")
    fetch = fetch or default_fetch
    os_name, arch = platform_tag()
    url = entry.url(entry.release_url, os_name, arch)
    filename = url.rsplit("/", 1)[-1]
    dest = release_dir(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        archive, staged = Path(tmp) / filename, Path(tmp) / "staged"
        sums_text, sums_url = "", ""
        if f"{os_name}-{arch}" not in entry.sha256:
            sums_url = entry.url(entry.checksums_url, os_name, arch)
            fetch(sums_url, Path(tmp) / "checksums")
            sums_text = (Path(tmp) / "checksums").read_text(errors="replace")
        progress(f"downloading {url}")
        fetch(url, archive)
        expected = _expected_digest(entry, f"{os_name}-{arch}", filename, sums_text, sums_url)
        digest = hashlib.sha256()
        with archive.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise ProvisionError(
                f"checksum mismatch for {filename}: expected {expected}, got "
                f"{digest.hexdigest()}; nothing was installed. Retry, or install "
                f"{entry.project} yourself and put it on PATH"
            )
        unpacked = Path(tmp) / "unpacked"
        unpacked.mkdir()
        staged.mkdir()
        _unpack(archive, unpacked)
        names = _collect(entry, unpacked, staged, os_name, arch)
        if dest.exists():
            shutil.rmtree(dest)
        staged.replace(dest)  # one rename: the cache never holds half a release
    progress(f"installed {', '.join(names)} {entry.version} (release) into {dest}")
    return dest
