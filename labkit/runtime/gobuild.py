"""Build a pinned project's executables from its Go module, cached by version.

``go_build(PINNED["prometheus"])`` runs ``go install MODULE/cmd/NAME@VERSION`` (or, for a
module whose go.mod has replace directives, ``go get -tool`` in a throwaway build module
then ``go build``) into ``cache_dir()/go/<project>/<version>/``, beside a ``BUILD-INFO.json``
that records the module, the Go toolchain and the build time. It shows progress (packages
compiled, time so far) and, on failure, names the module, the version and the last lines of
the build log, which is kept at ``go/<project>/<version>.build.log``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import ProvisionError
from labkit.runtime.paths import cache_dir
from labkit.runtime.versions import GoBuild, Pinned

__all__ = ["BuildInfo", "build_info", "cached_go_build", "go_available", "go_build", "go_dir"]


@dataclass(frozen=True)
class BuildInfo:
    """What ``BUILD-INFO.json`` records about one Go build."""

    module: str
    module_version: str
    go: str
    seconds: float


def go_available() -> str | None:
    """The ``go`` command, if this machine has one."""
    return shutil.which("go")


def go_dir(entry: Pinned) -> Path:
    """Where ``entry``'s Go build is (or would be) cached."""
    return cache_dir() / "go" / entry.project / entry.version


def cached_go_build(entry: Pinned, executable: str) -> Path | None:
    """The executable from an earlier Go build at the pinned version, if any."""
    path = go_dir(entry) / executable
    return path if path.is_file() and os.access(path, os.X_OK) else None


def build_info(entry: Pinned) -> BuildInfo | None:
    """The recorded facts of the cached build, if there is one."""
    try:
        data = json.loads((go_dir(entry) / "BUILD-INFO.json").read_text())
        return BuildInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def _commands(entry: Pinned, spec: GoBuild, bindir: Path) -> list[list[str]]:
    """The go commands that build every executable of ``entry`` into ``bindir``."""
    ldflags = "-s -w " + spec.ldflags.format(version=entry.version,
                                             module_version=spec.version)
    pkgs = {exe: f"{spec.module}/{p}".rstrip("/") for exe, p in spec.packages.items()}
    common = ["-trimpath", "-v", "-ldflags", ldflags, *(["-tags", spec.tags] if spec.tags else [])]
    if spec.placeholder_dirs:  # built inside a copy of the module (see _module_copy)
        return [["go", "build", *common, "-o", str(bindir / exe), f"./{p}".rstrip("/")]
                for exe, p in spec.packages.items()]
    if not spec.needs_build_module:
        return [["go", "install", *common, *(f"{p}@{spec.version}" for p in pkgs.values())]]
    commands = [["go", "mod", "init", f"labkit.local/build/{entry.project}"]]
    commands += [["go", "get", "-tool", f"{p}@{spec.version}"] for p in pkgs.values()]
    commands += [["go", "build", *common, "-o", str(bindir / exe), p] for exe, p in pkgs.items()]
    return commands


PLACEHOLDER_PAGE = ("<!doctype html><title>no web UI</title><p>This binary was built by labkit "
                    "from its Go module, which does not ship the web UI's npm-built assets. "
                    "The HTTP API is complete.</p>\n")


def _module_copy(spec: GoBuild, work: Path, env: dict[str, str], log: Path) -> Path:
    """A writable copy of the module's source, with a placeholder page in each asset folder."""
    found = subprocess.run(["go", "mod", "download", "-json", f"{spec.module}@{spec.version}"],
                           cwd=work, env=env, capture_output=True, text=True, check=False)
    with log.open("a") as out:
        out.write(f"$ go mod download -json {spec.module}@{spec.version}\n"
                  f"{found.stdout}{found.stderr}")
    try:
        source = Path(json.loads(found.stdout)["Dir"])
    except (ValueError, KeyError) as exc:
        raise ProvisionError(f"go mod download {spec.module}@{spec.version} failed: "
                             f"{found.stderr.strip() or found.stdout.strip()}") from exc
    copy = work / "src"
    shutil.copytree(source, copy)
    for folder in [copy, *copy.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o755)
    for rel in spec.placeholder_dirs:
        (copy / rel).mkdir(parents=True, exist_ok=True)
        (copy / rel / "index.html").write_text(PLACEHOLDER_PAGE)
    return copy


def _run(command: list[str], cwd: Path, env: dict[str, str], log: Path,
         tick: Callable[[str], None]) -> int:
    """Run one go command, appending its output to ``log``; each output line ticks progress."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                tick(line.strip())
        return proc.returncode


def go_build(entry: Pinned, *, progress: Callable[[str], object] = print) -> Path:
    """Build ``entry`` from its Go module at the pinned version; return the cache folder."""
    from tqdm import tqdm

    spec = entry.go
    go = go_available()
    if spec is None:
        raise ProvisionError(f"{entry.project} has no Go module to build from")
    if go is None:
        raise ProvisionError(f"building {entry.project} needs the Go toolchain (`go`): "
                             "install Go 1.26 or newer")
    dest = go_dir(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    log = dest.parent / f"{entry.version}.build.log"
    log.write_text("")
    env = {**os.environ, "CGO_ENABLED": "0"}
    what = f"{entry.project} {entry.version} from {spec.module}@{spec.version}"
    progress(f"building {what} with {go} (a few minutes; log: {log})")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".build-") as tmp:
        work, bindir = Path(tmp), Path(tmp) / "bin"
        bindir.mkdir()
        env["GOBIN"] = str(bindir)
        bar = tqdm(desc=f"go build {entry.project}", unit=" pkg", mininterval=5.0)
        try:
            cwd = _module_copy(spec, work, env, log) if spec.placeholder_dirs else work
            for command in _commands(entry, spec, bindir):
                code = _run(command, cwd, env, log, lambda line: bar.update(1))
                if code != 0:
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                    raise ProvisionError(
                        f"go build of {spec.module}@{spec.version} ({entry.project} "
                        f"{entry.version}) failed after {time.monotonic() - t0:.0f}s "
                        f"(exit {code}) at `{' '.join(command[:3])}`. "
                        f"Last lines of {log}:\n{tail}"
                    )
        finally:
            bar.close()
        seconds = round(time.monotonic() - t0, 1)
        version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True,
                                 check=False).stdout.strip()
        info = BuildInfo(spec.module, spec.version, version, seconds)
        (bindir / "BUILD-INFO.json").write_text(json.dumps(info.__dict__, indent=1) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        bindir.replace(dest)
    progress(f"built {', '.join(entry.executables)} {entry.version} in {seconds:.0f}s "
             f"into {dest}")
    return dest
