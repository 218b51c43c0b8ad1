"""Find or install the stack's upstream binaries, in one order, at the pinned versions.

The order for each executable (versions from :mod:`labkit.runtime.versions`):

1. ``PATH``: what the user installed themselves (Debian's package excepted, see 5);
2. labkit's cache: a release or a Go build at the pinned version;
3. the official release archive, checksum-verified (:mod:`labkit.runtime.download`);
4. a build from the project's Go module at the same version when ``go`` is available
   (:mod:`labkit.runtime.gobuild`); ``from_source=True`` goes straight here;
5. Debian's package, already installed or installed with apt as root: last, since
   Debian's releases are old (bookworm: Prometheus 2.42, Alertmanager 0.25).

:func:`locate` says where an executable would come from without installing anything;
:func:`ensure_binary` installs what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labkit.config import LabConfig
from labkit.errors import BinaryNotFound, ProvisionError
from labkit.runtime.download import Fetch, cached_release, default_fetch, download_release
from labkit.runtime.gobuild import cached_go_build, go_available, go_build
from labkit.runtime.versions import PINNED, Pinned, pinned_for

__all__ = ["BINARIES", "Found", "ensure_binary", "find_binary", "locate"]

DPKG_INFO = Path("/var/lib/dpkg/info")  # dpkg's file lists: which package owns which path

Progress = Callable[[str], object]


@dataclass(frozen=True)
class Found:
    """Where an executable is and how it got there: path, release, go build or apt."""

    path: Path
    origin: str


def _debian_owned(path: Path, package: str) -> bool:
    """Whether ``path`` was installed by the Debian package ``package`` (its dpkg file list)."""
    info = DPKG_INFO
    wanted = {str(path), str(path.resolve())}
    for listing in (info / f"{package}.list", *info.glob(f"{package}:*.list")):
        try:
            if wanted & set(listing.read_text().splitlines()):
                return True
        except OSError:
            continue
    return False


def locate(executable: str) -> Found | None:
    """Where ``executable`` comes from now, in provisioning order, or None."""
    try:
        entry = pinned_for(executable)
    except KeyError:  # not one of the pinned projects: PATH only
        hit = shutil.which(executable)
        return Found(Path(hit), "path") if hit else None
    from_apt = None
    for name in dict.fromkeys([executable, entry.debian_names.get(executable, executable)]):
        hit = shutil.which(name)
        if hit is None:
            continue
        if entry.apt_package and _debian_owned(Path(hit), entry.apt_package):
            from_apt = from_apt or Found(Path(hit), "apt")
        else:
            return Found(Path(hit), "path")
    release = cached_release(entry, executable)
    if release:
        return Found(release, "release")
    built = cached_go_build(entry, executable)
    if built:
        return Found(built, "go build")
    return from_apt


def find_binary(name: str) -> Path | None:
    """The path of ``name`` by :func:`locate`'s order, or None."""
    found = locate(name)
    return found.path if found else None


def _can_use_apt() -> bool:
    return (
        sys.platform == "linux"
        and hasattr(os, "geteuid")
        and os.geteuid() == 0
        and Path("/etc/debian_version").exists()
        and shutil.which("apt-get") is not None
    )


def _apt_install(package: str, progress: Progress) -> None:
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


def _from_source(entry: Pinned, name: str, progress: Progress) -> Path:
    cached = cached_go_build(entry, name)
    if cached:
        return cached
    return go_build(entry, progress=progress) / name


def ensure_binary(
    name: str,
    *,
    allow_apt: bool = True,
    allow_download: bool = True,
    allow_go: bool = True,
    from_source: bool = False,
    progress: Progress = print,
    fetch: Fetch | None = None,
) -> Path:
    """Return the path of ``name``, installing it in provisioning order if it is missing.

    >>> ensure_binary("promtool")  # doctest: +SKIP
    PosixPath('/home/me/.cache/labkit/go/prometheus/3.16.0/promtool')
    """
    try:
        entry = pinned_for(name)
    except KeyError as exc:
        raise ProvisionError(str(exc.args[0])) from None
    if from_source:
        return _from_source(entry, name, progress)
    found = locate(name)
    if found and found.origin != "apt":
        return found.path
    tried: list[str] = []
    if allow_download and entry.release_url and not LabConfig.from_env().offline:
        try:
            download_release(entry, fetch=fetch, progress=progress)
            release = cached_release(entry, name)
            if release:
                return release
        except ProvisionError as exc:
            tried.append(f"release {entry.version}: {exc}")
            progress(f"{name}: no release download ({exc}); trying the next way")
    if allow_go and entry.go and go_available():
        try:
            return _from_source(entry, name, progress)
        except ProvisionError as exc:
            tried.append(str(exc))
            progress(f"{name}: {exc}")
    if found:  # Debian's package, already installed
        return found.path
    if allow_apt and entry.apt_package and _can_use_apt():
        try:
            _apt_install(entry.apt_package, progress)
            found = locate(name)
            if found:
                return found.path
        except ProvisionError as exc:
            tried.append(str(exc))
    raise BinaryNotFound(_not_found_message(entry, name, tried), service=name)


def _not_found_message(entry: Pinned, name: str, tried: list[str]) -> str:
    ways = [f"put {name} on PATH"]
    if entry.release_url:
        ways.append(f"let `labkit install` download release {entry.version} (needs internet)")
    if entry.go:
        ways.append(f"install Go and run `labkit install --from-source` "
                    f"({entry.go.module}@{entry.go.version})")
    if entry.apt_package:
        ways.append(f"apt-get install {entry.apt_package}")
    message = f"{name} is not installed: " + ", or ".join(ways)
    if tried:
        message += ". Tried: " + "; ".join(t.splitlines()[0] for t in tried)
    return message


BINARIES: dict[str, Pinned] = {exe: p for p in PINNED.values() for exe in p.executables}
"""The pinned table seen by executable name (``BINARIES["promtool"].version``)."""

# grafana.py streams its release through this name.
_default_fetch = default_fetch
