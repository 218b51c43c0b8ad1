"""Grafana in the local runtime: find the binary, fetch the pinned OSS release, render its config.

Grafana's sources are AGPL-licensed and no registry here carries it, so it is never built:
``grafana`` (or the older ``grafana-server``) on PATH wins; ``labkit install --grafana``
downloads the pinned OSS release from dl.grafana.com and checks it against the release's
published SHA-256 before unpacking it into the cache. Without a binary the lab runs
without Grafana and the notebooks preview dashboards with matplotlib.

The provisioning under ``stack/grafana/provisioning`` is runtime-neutral: URLs are
``${LABKIT_*_URL}`` variables that the docker runtime passes as environment and that
:func:`render_provisioning` fills in for a local Grafana. Grafana listens on loopback only,
lets anonymous users view, and its admin password is generated into the run dir at first
start (or read from ``$LABKIT_GRAFANA_ADMIN_PASSWORD``): none is committed.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from labkit.config import LabConfig
from labkit.errors import ProvisionError
from labkit.runtime.paths import bin_dir, cache_dir
from labkit.runtime.versions import PINNED

__all__ = ["GRAFANA_VERSION", "admin_password", "ensure_grafana", "find_grafana",
           "grafana_home", "release_url", "render_provisioning"]

GRAFANA_VERSION = PINNED["grafana"].version  # the one pinned-version table
STACK = Path(__file__).resolve().parents[2] / "stack" / "grafana"
PASSWORD_ENV = "LABKIT_GRAFANA_ADMIN_PASSWORD"
_VAR = re.compile(r"(?<!\$)\$\{(LABKIT_[A-Z0-9_]+)\}")

Fetch = Callable[[str, Path], None]


def release_url(version: str = GRAFANA_VERSION, arch: str = "amd64") -> str:
    """The pinned OSS tarball (its checksum is at the same URL plus ``.sha256``)."""
    return f"https://dl.grafana.com/oss/release/grafana-{version}.linux-{arch}.tar.gz"


def _cached(version: str = GRAFANA_VERSION) -> Path:
    return cache_dir() / "grafana" / version


def find_grafana() -> Path | None:
    """``grafana`` or ``grafana-server`` on PATH, else the cached release's ``bin/grafana``."""
    for name in ("grafana", "grafana-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    cached = _cached() / "bin" / "grafana"
    return cached if cached.is_file() else None


def grafana_home(binary: Path) -> Path:
    """Grafana's home path (``conf/defaults.ini`` and ``public/``) for a binary."""
    for home in (binary.resolve().parent.parent, Path("/usr/share/grafana")):
        if (home / "conf" / "defaults.ini").is_file():
            return home
    raise ProvisionError(f"cannot find Grafana's home (conf/defaults.ini) for {binary}")


def ensure_grafana(fetch: Fetch | None = None, version: str = GRAFANA_VERSION) -> Path:
    """The Grafana binary: found, or downloaded, checksum-verified and unpacked into the cache."""
    found = find_grafana()
    if found is not None:
        return found
    if fetch is None:
        from labkit.runtime.provision import _default_fetch

        fetch = _default_fetch
    url = release_url(version)
    target = _cached(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        archive, sums = Path(tmp) / "grafana.tar.gz", Path(tmp) / "grafana.sha256"
        fetch(url + ".sha256", sums)
        fetch(url, archive)
        want = sums.read_text().split()[0].lower() if sums.read_text().split() else ""
        got = hashlib.sha256(archive.read_bytes()).hexdigest()
        if got != want:
            raise ProvisionError(f"checksum mismatch for {url}: expected {want or '(none)'}, "
                                 f"got {got}; nothing was installed")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        unpacked = next(p for p in Path(tmp).iterdir() if p.is_dir())
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    link = bin_dir() / "grafana"  # where the local runtime looks for binaries
    link.unlink(missing_ok=True)
    link.symlink_to(target / "bin" / "grafana")
    return target / "bin" / "grafana"


def admin_password(run_dir: Path, env: dict[str, str] | None = None) -> str:
    """``$LABKIT_GRAFANA_ADMIN_PASSWORD``, or one generated once into the run dir (mode 600)."""
    given = LabConfig.from_env(env).grafana_admin_password
    if given:
        return given
    path = run_dir / "grafana" / "admin-password"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


def render_provisioning(dest: Path, values: dict[str, str], source: Path | None = None) -> Path:
    """Copy the provisioning tree to ``dest``, filling in every ``${LABKIT_*}`` variable.

    ``$$`` (Grafana's escape for a literal ``$``) is left for Grafana; an unknown
    variable is an error naming the file.
    """
    source = source or STACK / "provisioning"
    for src in sorted(source.rglob("*.yaml")):
        text = src.read_text()
        missing = sorted({m for m in _VAR.findall(text) if m not in values})
        if missing:
            raise ProvisionError(f"{src} uses {', '.join(missing)}, which labkit did not set")
        out = dest / src.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(_VAR.sub(lambda m: values[m.group(1)], text))
    return dest
