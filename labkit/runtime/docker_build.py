"""Build the docker runtime's images on this machine, with no registry at hand.

For offline machines and the tests: a Debian base from ``debootstrap --variant=minbase``
(cached as a tarball under the cache dir) imported with ``docker import``; Prometheus,
Alertmanager and node exporter from the binaries ``labkit install`` provides; llama-server
from labkit's cached build; the labkit image (``docker/labkit.Dockerfile``) on a base that
holds this Python environment's packages. Each image is tagged by a key of everything that
goes into it, so building again with the same inputs is a lookup.

:func:`build_local_images` returns the ``LABKIT_*`` variables that point the runtime at them.
Loki, Jaeger and Alloy cannot be built here (no registry carries them; Loki and Alloy must not
be built from their modules): labkit's stand-ins run in their place, in the labkit image.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.errors import ProvisionError
from labkit.runtime.docker_engine import REPO_ROOT, engine_errors
from labkit.runtime.paths import cache_dir

__all__ = ["STANDINS", "build_local_images", "rootfs_tarball"]

SUITE, VARIANT = "bookworm", "minbase"
INCLUDE = ("python3", "libgomp1", "ca-certificates")  # the labkit image; llama-server's OpenMP
STANDINS = ("loki", "jaeger", "shipper")
REPO = "labkit-local"
Progress = Callable[[str], None]


def _key(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else repr(part).encode())
    return digest.hexdigest()[:12]


def _file_key(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def apt_mirror() -> str:
    """The Debian mirror apt uses here (first ``URIs:``/``deb`` line), else deb.debian.org."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        match = re.search(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s", text, re.M)
        if match:
            return match.group(1)
    return "http://deb.debian.org/debian"


def rootfs_tarball(progress: Progress = print) -> Path:
    """A Debian minbase root filesystem as a tarball, built once with debootstrap (as root)."""
    mirror = apt_mirror()
    out = cache_dir() / "docker" / f"rootfs-{SUITE}-{_key(SUITE, VARIANT, INCLUDE, mirror)}.tar"
    if out.exists():
        return out
    if os.geteuid() != 0:
        raise ProvisionError("building the base image needs root (debootstrap); run as root "
                             "or use a registry with LABKIT_IMAGE_<SERVICE> overrides")
    if shutil.which("debootstrap") is None:
        _apt("debootstrap", progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".rootfs-") as tmp:
        root = Path(tmp) / "root"
        progress(f"debootstrap --variant={VARIANT} {SUITE} from {mirror} (about 80 s, once)")
        _run(["debootstrap", f"--variant={VARIANT}", f"--include={','.join(INCLUDE)}",
              SUITE, str(root), mirror])
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        shutil.rmtree(root / "var" / "lib" / "apt" / "lists", ignore_errors=True)
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", f"{tmp}/rootfs.tar", "."])
        Path(tmp, "rootfs.tar").replace(out)
    return out


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise ProvisionError(f"{argv[0]} failed ({result.returncode}):\n{tail}")


def _apt(package: str, progress: Progress) -> None:
    progress(f"apt-get install -y {package}")
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", package])


class LocalImages:
    """Builds (or finds) the locally made images on one engine."""

    def __init__(self, client: Any, progress: Progress = print) -> None:
        self.client = client
        self.progress = progress

    def _exists(self, tag: str) -> bool:
        import docker.errors as derr

        try:
            self.client.images.get(tag)
            return True
        except derr.ImageNotFound:
            return False

    def _build(self, tag: str, dockerfile: str, files: dict[str, Path]) -> str:
        """Build ``dockerfile`` in a context made of ``files`` (name in context -> source)."""
        if self._exists(tag):
            return tag
        self.progress(f"  building {tag}")
        with tempfile.TemporaryDirectory(prefix="labkit-image-") as tmp:
            for name, src in files.items():
                dest = Path(tmp) / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, dest, symlinks=True)
                else:
                    shutil.copy2(src, dest)
            Path(tmp, "Dockerfile").write_text(dockerfile)
            with engine_errors("", tag):
                self.client.images.build(path=tmp, tag=tag, rm=True, forcerm=True)
        return tag

    def base(self) -> str:
        tarball = rootfs_tarball(self.progress)
        tag = f"{REPO}/base:{tarball.stem.rsplit('-', 1)[-1]}"
        if not self._exists(tag):
            self.progress(f"  docker import {tarball.name} as {tag}")
            repo, version = tag.split(":")
            with engine_errors("", tag):
                self.client.api.import_image_from_file(str(tarball), repository=repo,
                                                       tag=version)
        return tag

    def binary(self, service: str, binary: Path, name: str, data_dir: str, user: str) -> str:
        """An image whose entrypoint is ``binary``, like the official Prometheus images.

        Debian's builds read some files from /usr/share/prometheus (Alertmanager its default
        notification templates): those come along when the binary is Debian's.
        """
        base = self.base()
        files = {name: binary}
        share = Path("/usr/share/prometheus") / service
        copy_share = ""
        if str(binary).startswith("/usr/bin/") and share.is_dir():
            files["share"] = share
            copy_share = f"COPY share {share}\n"
        dockerfile = (f"FROM {base}\nCOPY {name} /bin/{name}\n{copy_share}"
                      f"RUN mkdir -p {data_dir} && chown {user}:{user} {data_dir}\n"
                      f"USER {user}\nWORKDIR {data_dir}\nENTRYPOINT [\"/bin/{name}\"]\n")
        shared = [_file_key(f) for f in sorted(share.rglob("*")) if f.is_file()] \
            if copy_share else []
        tag = f"{REPO}/{service}:{_key(base, _file_key(binary), dockerfile, shared)}"
        return self._build(tag, dockerfile, files)

    def llama_server(self, binary: Path) -> str:
        """llama-server and the shared libraries it was built with, as /app in the image."""
        base = self.base()
        libs = sorted(binary.parent.glob("*.so*"))
        dockerfile = (f"FROM {base}\nCOPY app /app\nENV LD_LIBRARY_PATH=/app\n"
                      "ENTRYPOINT [\"/app/llama-server\"]\n")
        tag = f"{REPO}/llama-server:{_key(base, _file_key(binary), *map(_file_key, libs))}"
        files = {"app/llama-server": binary, **{f"app/{lib.name}": lib for lib in libs}}
        return self._build(tag, dockerfile, files)

    def python_deps(self) -> str:
        """The base plus this environment's site-packages (same Python minor version)."""
        from importlib import metadata

        base = self.base()
        site = Path(sysconfig.get_paths()["purelib"])
        dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        dockerfile = (f"FROM {base}\nCOPY site-packages /usr/local/lib/{version}/dist-packages\n"
                      f"RUN python3 -c 'import sys; assert sys.version_info[:2] == "
                      f"{tuple(sys.version_info[:2])}, sys.version'\n")
        tag = f"{REPO}/python-deps:{_key(base, dists, dockerfile)}"
        if self._exists(tag):
            return tag
        # What only a developer or the notebook server needs stays out (labkit itself comes
        # from the checkout); the Dockerfile's import check fails the build if too much is.
        skip = shutil.ignore_patterns(
            "__pycache__", "labkit*", "_labkit*", "__editable__*", "jupyterlab*",
            "jupyter_server*", "notebook*", "mypy*", "*__mypyc*", "ruff*", "pip", "pip-*",
            "setuptools", "debugpy*", "pytest*", "_pytest", "hypothesis*", "jedi*", "babel*")
        with tempfile.TemporaryDirectory(prefix="labkit-sitepkgs-") as tmp:
            copy = Path(tmp) / "site-packages"
            shutil.copytree(site, copy, ignore=skip, symlinks=True)
            return self._build(tag, dockerfile, {"site-packages": copy})

    def labkit(self) -> str:
        """docker/labkit.Dockerfile on the python-deps base, without pip (offline)."""
        deps = self.python_deps()
        parts = [REPO_ROOT / "pyproject.toml", REPO_ROOT / "docker" / "labkit.Dockerfile",
                 *sorted((REPO_ROOT / "labkit").rglob("*.py")),
                 *sorted((REPO_ROOT / "labkit").rglob("*.lark")),
                 *sorted(p for p in (REPO_ROOT / "stack").rglob("*") if p.is_file())]
        tag = f"{REPO}/labkit:{_key(deps, *(_file_key(p) for p in parts))}"
        if self._exists(tag):
            return tag
        self.progress(f"  building {tag} (docker/labkit.Dockerfile, BASE={deps})")
        with engine_errors("labkit", tag):
            self.client.images.build(path=str(REPO_ROOT), dockerfile="docker/labkit.Dockerfile",
                                     tag=tag, rm=True, forcerm=True,
                                     buildargs={"BASE": deps, "PIP_INSTALL": "0"})
        return tag


def build_local_images(client: Any, progress: Progress = print) -> dict[str, str]:
    """Build every image the lab needs here; return the ``LABKIT_*`` variables that use them."""
    from labkit.runtime.llama_build import cached_llama_server
    from labkit.runtime.provision import ensure_binary

    images = LocalImages(client, progress)
    env = {
        "LABKIT_IMAGE_PROMETHEUS": images.binary(
            "prometheus", ensure_binary("prometheus"), "prometheus", "/prometheus", "65534"),
        "LABKIT_IMAGE_ALERTMANAGER": images.binary(
            "alertmanager", ensure_binary("alertmanager"), "alertmanager", "/alertmanager",
            "65534"),
        "LABKIT_IMAGE_NODE_EXPORTER": images.binary(
            "node-exporter", ensure_binary("node_exporter"), "node_exporter",
            "/var/lib/node_exporter", "65534"),
    }
    llama = shutil.which("llama-server")
    binary = Path(llama) if llama else cached_llama_server()
    if not binary.is_file():
        raise ProvisionError(f"llama-server is not built yet ({binary}): run `labkit install`")
    env["LABKIT_IMAGE_LLAMA_SERVER"] = images.llama_server(binary)
    env["LABKIT_IMAGE_LABKIT"] = images.labkit()
    env["LABKIT_DOCKER_STANDINS"] = ",".join(STANDINS)
    return env
