"""llama-server: from PATH, from labkit's cache, or built once from the llama-cpp-python sdist.

The sdist on PyPI vendors the whole llama.cpp source tree, so PyPI alone is enough to build the
server (about 8 minutes on 2 cores). The result is cached by version, so later calls take
milliseconds. Nothing is downloaded at build time beyond the sdist: the web UI and curl are off.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from labkit.errors import ProvisionError
from labkit.runtime.paths import cache_dir

__all__ = [
    "CMAKE_FLAGS",
    "LLAMA_CPP_PYTHON_VERSION",
    "build_llama_server",
    "cached_llama_server",
    "ensure_llama_server",
]

LLAMA_CPP_PYTHON_VERSION = "0.3.36"

# Static, portable (no -march=native), server only, and nothing fetched at build time:
# LLAMA_USE_PREBUILT_UI=ON would download the web UI; OpenSSL/curl are not needed on loopback.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_BUILD_APP=OFF",
)

Runner = Callable[[Sequence[str], Path | None, Callable[[str], None]], int]
"""Run a command in a folder, feeding each output line to a callback; return its exit code."""

_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


def _subprocess_runner(cmd: Sequence[str], cwd: Path | None, on_line: Callable[[str], None]) -> int:
    """Run ``cmd`` with stdout and stderr merged, streaming lines as they come."""
    try:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except FileNotFoundError as exc:
        raise ProvisionError(f"cannot run {cmd[0]}: {exc}") from exc
    assert proc.stdout is not None
    for line in proc.stdout:
        on_line(line.rstrip("\n"))
    return proc.wait()


def cached_llama_server(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    """Return where the build of ``version`` is cached (it may not exist yet)."""
    return cache_dir() / "llama-server" / version / "llama-server"


class _Build:
    """One build: every command's output goes to one log; failures quote its tail."""

    def __init__(self, log: Path, runner: Runner, progress: Callable[[str], object]) -> None:
        self.log, self.runner, self.progress = log, runner, progress
        self.tail: deque[str] = deque(maxlen=20)
        self.last_decile = -1

    def _on_line(self, line: str) -> None:
        self.out.write(line + "\n")
        self.tail.append(line)
        match = _PERCENT.match(line)
        if match:  # cmake's "[ 42%]" lines: report each new tenth
            decile = int(match.group(1)) // 10
            if decile > self.last_decile:
                self.last_decile = decile
                self.progress(f"building llama-server: {match.group(1)}%")

    def run(self, step: str, cmd: Sequence[str | Path], cwd: Path | None = None) -> None:
        with self.log.open("a", encoding="utf-8") as self.out:
            self.out.write(f"$ {' '.join(map(str, cmd))}\n")
            code = self.runner([str(c) for c in cmd], cwd, self._on_line)
        if code != 0:
            tail = "\n".join(self.tail)
            raise ProvisionError(
                f"building llama-server failed while {step} (exit {code}). "
                f"Full log: {self.log}. Last lines:\n{tail}"
            )


def _unpack_sdist(sdist_dir: Path, dest: Path) -> Path:
    """Unpack the downloaded sdist and return its vendored llama.cpp folder."""
    archives = sorted(sdist_dir.glob("llama_cpp_python-*.tar.gz"))
    if not archives:
        raise ProvisionError(f"pip download left no llama_cpp_python sdist in {sdist_dir}")
    try:
        with tarfile.open(archives[0]) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ProvisionError(f"cannot unpack {archives[0].name}: {exc}") from exc
    sources = sorted(dest.glob("*/vendor/llama.cpp/CMakeLists.txt"))
    if not sources:
        raise ProvisionError(f"{archives[0].name} has no vendor/llama.cpp/CMakeLists.txt")
    return sources[0].parent


def build_llama_server(
    *,
    version: str = LLAMA_CPP_PYTHON_VERSION,
    progress: Callable[[str], object] = print,
    runner: Runner | None = None,
    jobs: int | None = None,
) -> Path:
    """Download the sdist, build ``llama-server`` in a temp dir and move it into the cache."""
    target = cached_llama_server(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    if runner is None and shutil.which("cmake") is None:
        raise ProvisionError(
            "building llama-server needs cmake and a C++ compiler: "
            "apt-get install cmake g++ (or put a llama-server binary on PATH)"
        )
    log = target.parent / "build.log"
    log.write_text("")
    build = _Build(log, runner or _subprocess_runner, progress)
    jobs = jobs or os.cpu_count() or 1
    t0 = time.monotonic()
    # The temp dir sits next to the target so the final rename stays on one filesystem.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp_name:
        tmp = Path(tmp_name)
        progress(f"downloading the llama-cpp-python {version} sdist from PyPI (log: {log})")
        # The sdist only: `--no-binary :all:` would also build every build dependency of its
        # metadata step (scikit-build-core, hatchling, ...) from source, over 13 minutes on
        # a machine without pip's cache, against 40 s with their wheels.
        build.run(
            "downloading the sdist",
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                "llama-cpp-python",
                "--no-deps",
                f"llama-cpp-python=={version}",
                "-d",
                tmp / "sdist",
            ],
        )
        source = _unpack_sdist(tmp / "sdist", tmp / "src")
        progress("configuring llama.cpp with cmake")
        build.run("configuring", ["cmake", "-S", source, "-B", tmp / "build", *CMAKE_FLAGS])
        progress(f"building llama-server with {jobs} jobs (about 8 minutes on 2 cores)")
        build.run(
            "compiling",
            [
                "cmake",
                "--build",
                tmp / "build",
                "--target",
                "llama-server",
                "-j",
                str(jobs),
            ],
        )
        built = tmp / "build" / "bin" / "llama-server"
        if not built.is_file():
            raise ProvisionError(f"the build finished but {built} is missing. Full log: {log}")
        install_binary(built, target)
    progress(f"built llama-server {version} in {time.monotonic() - t0:.0f}s; cached at {target}")
    return target


def install_binary(built: Path, target: Path) -> Path:
    """Copy ``built`` to ``target`` atomically: a half-copied binary is never visible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copy2(built, staging)
    staging.chmod(0o755)
    staging.replace(target)
    return target


def ensure_llama_server(
    *,
    progress: Callable[[str], object] = print,
    runner: Runner | None = None,
    jobs: int | None = None,
) -> Path:
    """Return a llama-server: from PATH, else the cached build, else build it now (minutes).

    >>> ensure_llama_server()  # doctest: +SKIP
    PosixPath('/home/me/.cache/labkit/llama-server/0.3.36/llama-server')
    """
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    cached = cached_llama_server()
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    return build_llama_server(progress=progress, runner=runner, jobs=jobs)
