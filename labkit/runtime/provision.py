"""Find or install the stack's Go binaries: PATH first, then apt (Debian, root), then releases.

Release tarballs come from the projects' GitHub releases at pinned versions and are checked
against the release's ``sha256sums.txt`` before anything is unpacked into ``cache_dir()/bin``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import BinaryNotFound, ProvisionError
from labkit.runtime.paths import bin_dir

__all__ = ["BINARIES", "Binary", "ensure_binary", "find_binary", "release_url"]

Fetch = Callable[[str, Path], None]
"""Download a URL into a file; injected so tests need no internet."""


@dataclass(frozen=True)
class Binary:
    """Where one executable comes from: its Debian package and its upstream release."""

    name: str
    project: str  # GitHub project under github.com/prometheus, also the tarball's prefix
    version: str
    apt_package: str
    debian_name: str  # the executable's name when installed from the Debian package


BINARIES: dict[str, Binary] = {
    b.name: b
    for b in (
        # 3.5 is Prometheus's long-term-support release line.
        Binary("prometheus", "prometheus", "3.5.0", "prometheus", "prometheus"),
        Binary("promtool", "prometheus", "3.5.0", "prometheus", "promtool"),
        Binary(
            "alertmanager",
            "alertmanager",
            "0.28.1",
            "prometheus-alertmanager",
            "prometheus-alertmanager",
        ),
        Binary("amtool", "alertmanager", "0.28.1", "prometheus-alertmanager", "amtool"),
        Binary(
            "node_exporter",
            "node_exporter",
            "1.9.1",
            "prometheus-node-exporter",
            "prometheus-node-exporter",
        ),
    )
}


def _spec(name: str) -> Binary:
    try:
        return BINARIES[name]
    except KeyError:
        known = ", ".join(sorted(BINARIES))
        raise ProvisionError(f"labkit cannot install {name!r}; it knows: {known}") from None


def find_binary(name: str) -> Path | None:
    """Return the executable ``name`` from PATH (also under its Debian name) or the cache's bin/."""
    spec = BINARIES.get(name)
    for candidate in dict.fromkeys([name, spec.debian_name if spec else name]):
        found = shutil.which(candidate)
        if found:
            return Path(found)
    cached = bin_dir() / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    return None


def _platform_tag() -> str:
    """Return the release's os-arch suffix, e.g. ``linux-amd64``."""
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    machine = platform.machine().lower()
    arch = {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "armv7",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
    }.get(machine)
    if system is None or arch is None:
        raise ProvisionError(
            f"no prebuilt release for {sys.platform}/{platform.machine()}: "
            "install prometheus, alertmanager and node_exporter yourself and put them on PATH"
        )
    return f"{system}-{arch}"


def release_url(name: str, filename: str | None = None) -> str:
    """Return the URL of the release tarball for ``name`` (or of another file of that release)."""
    spec = _spec(name)
    base = f"https://github.com/prometheus/{spec.project}/releases/download/v{spec.version}"
    return f"{base}/{filename or _tarball_name(spec)}"


def _tarball_name(spec: Binary) -> str:
    return f"{spec.project}-{spec.version}.{_platform_tag()}.tar.gz"


def _default_fetch(url: str, dest: Path) -> None:
    """Stream ``url`` into ``dest`` with httpx, following GitHub's redirects."""
    import httpx

    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
            response.raise_for_status()
            with dest.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise ProvisionError(f"download of {url} failed: {exc}") from exc


def _expected_sha256(sums: str, filename: str, url: str) -> str:
    """Pick ``filename``'s digest out of a ``sha256sums.txt`` body."""
    for line in sums.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == filename:
            return parts[0].lower()
    raise ProvisionError(f"{url} lists no checksum for {filename}")


def _download(spec: Binary, fetch: Fetch, progress: Callable[[str], object]) -> None:
    """Download, verify and unpack ``spec``'s release; every binary of the tarball lands in bin/."""
    tarball = _tarball_name(spec)
    url, sums_url = release_url(spec.name), release_url(spec.name, "sha256sums.txt")
    target = bin_dir()
    with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as tmp:
        archive, sums = Path(tmp) / tarball, Path(tmp) / "sha256sums.txt"
        progress(f"downloading {url}")
        fetch(sums_url, sums)
        fetch(url, archive)
        expected = _expected_sha256(sums.read_text(), tarball, sums_url)
        actual = hashlib.sha256(archive.read_bytes()).hexdigest()
        if actual != expected:
            raise ProvisionError(
                f"checksum mismatch for {tarball}: expected {expected}, got {actual}; "
                "nothing was installed. Retry, or install the binary yourself and put it on PATH"
            )
        wanted = {b.name for b in BINARIES.values() if b.project == spec.project}
        unpacked = Path(tmp) / "unpacked"
        try:
            with tarfile.open(archive) as tar:
                members = [
                    m for m in tar.getmembers() if m.isfile() and Path(m.name).name in wanted
                ]
                tar.extractall(unpacked, members=members, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ProvisionError(f"cannot unpack {tarball}: {exc}") from exc
        for member in members:
            src = unpacked / member.name
            src.chmod(0o755)
            src.replace(target / src.name)  # rename within one filesystem: atomic
        progress(
            f"installed {', '.join(sorted(Path(m.name).name for m in members))} "
            f"{spec.version} into {target}"
        )


def _can_use_apt() -> bool:
    return (
        sys.platform == "linux"
        and hasattr(os, "geteuid")
        and os.geteuid() == 0
        and Path("/etc/debian_version").exists()
        and shutil.which("apt-get") is not None
    )


def _apt_install(package: str, progress: Callable[[str], object]) -> None:
    """``apt-get install -y`` as root; a temporary policy-rc.d keeps its daemon stopped."""
    progress(f"apt-get install -y {package}")
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:  # otherwise postinst starts a system prometheus that takes port 9090
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        result = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", package],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if created:
            policy.unlink(missing_ok=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-10:])
        raise ProvisionError(f"apt-get install -y {package} failed ({result.returncode}):\n{tail}")
    from labkit.runtime.apt import disable_package_units

    disable_package_units(package, progress)


def ensure_binary(
    name: str,
    *,
    allow_apt: bool = True,
    allow_download: bool = True,
    progress: Callable[[str], object] = print,
    fetch: Fetch | None = None,
) -> Path:
    """Return the path of ``name``, installing it with apt or from its release if it is missing.

    >>> ensure_binary("promtool")  # doctest: +SKIP
    PosixPath('/usr/bin/promtool')
    """
    spec = _spec(name)
    found = find_binary(name)
    if found:
        return found
    if allow_apt and _can_use_apt():
        try:
            _apt_install(spec.apt_package, progress)
        except ProvisionError as exc:
            if not allow_download:
                raise
            progress(f"{exc}; trying the release tarball instead")
        found = find_binary(name)
        if found:
            return found
    if allow_download:
        _download(spec, fetch or _default_fetch, progress)
        found = find_binary(name)
        if found:
            return found
    raise BinaryNotFound(
        f"{name} is not installed: install the Debian package {spec.apt_package} "
        f"(apt-get install {spec.apt_package}), or put {name} on PATH (release {spec.version}: "
        f"https://github.com/prometheus/{spec.project}/releases/tag/v{spec.version}), "
        "or run `labkit install`",
        service=name,
    )
