"""Getting llama-server: PATH, the cached build, or a build driven through an injected runner."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from labkit.errors import ProvisionError
from labkit.runtime.llama_build import (
    CMAKE_FLAGS,
    LLAMA_CPP_PYTHON_VERSION,
    cached_llama_server,
    ensure_llama_server,
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH and a private cache."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


class FakeBuild:
    """Plays pip and cmake: writes a fake sdist, prints cmake-style progress, makes a binary."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, cmd: Sequence[str], cwd: Path | None, on_line: Callable[[str], None]) -> int:
        self.commands.append(list(cmd))
        if "download" in cmd:
            dest = Path(cmd[cmd.index("-d") + 1])
            dest.mkdir(parents=True)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                data = b"project(llama.cpp)\n"
                info = tarfile.TarInfo(
                    f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/CMakeLists.txt"
                )
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            (dest / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz").write_bytes(
                buf.getvalue()
            )
            on_line("Saved llama_cpp_python.tar.gz")
            return 0
        if "--build" in cmd:
            for pct in (3, 5, 14, 50, 99, 100):
                on_line(f"[{pct:3d}%] Building CXX object thing{pct}.cpp.o")
            if self.fail_on == "compile":
                on_line("error: the compiler is unhappy")
                return 2
            build = Path(cmd[cmd.index("--build") + 1])
            _executable(build / "bin" / "llama-server", "#!/bin/sh\necho built\n")
            return 0
        on_line("-- Configuring done")
        return 0


def test_path_wins(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A llama-server on PATH is used as is, with no build."""
    server = _executable(isolated / "bin" / "llama-server")
    monkeypatch.setenv("PATH", str(server.parent))
    runner = FakeBuild()
    assert ensure_llama_server(runner=runner) == server
    assert runner.commands == []


def test_cached_build_is_reused(isolated: Path) -> None:
    """A binary already in the cache is returned without building."""
    cached = _executable(cached_llama_server())
    assert cached == isolated / "cache" / "llama-server" / LLAMA_CPP_PYTHON_VERSION / "llama-server"
    runner = FakeBuild()
    assert ensure_llama_server(runner=runner) == cached
    assert runner.commands == []


def test_build_downloads_configures_compiles_and_caches(isolated: Path) -> None:
    """A build runs pip download, cmake configure with the pinned flags, then the server target."""
    runner, messages = FakeBuild(), list[str]()
    path = ensure_llama_server(runner=runner, progress=messages.append, jobs=3)
    assert path == cached_llama_server()
    assert "echo built" in path.read_text()
    download, configure, compile_ = runner.commands
    assert download[-3:-1] == [f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d"]
    assert {"--no-binary", "--no-deps"} <= set(download)
    # the sdist of llama-cpp-python alone: its build dependencies come as wheels
    assert download[download.index("--no-binary") + 1] == "llama-cpp-python"
    assert configure[2].endswith("vendor/llama.cpp")
    assert set(CMAKE_FLAGS) <= set(configure)
    assert compile_[-4:] == ["--target", "llama-server", "-j", "3"]
    # Progress reports each new tenth once, not every cmake line.
    assert [m for m in messages if "%" in m] == [
        "building llama-server: 3%",
        "building llama-server: 14%",
        "building llama-server: 50%",
        "building llama-server: 99%",
        "building llama-server: 100%",
    ]
    log = path.parent / "build.log"
    assert "-- Configuring done" in log.read_text()
    assert sorted(p.name for p in path.parent.iterdir()) == ["build.log", "llama-server"]


def test_failed_compile_reports_log_and_installs_nothing(isolated: Path) -> None:
    """A compile error raises with the log path and its last lines; no binary is cached."""
    with pytest.raises(ProvisionError, match="while compiling") as info:
        ensure_llama_server(runner=FakeBuild(fail_on="compile"), progress=lambda _: None)
    message = str(info.value)
    assert "the compiler is unhappy" in message
    assert str(cached_llama_server().parent / "build.log") in message
    assert not cached_llama_server().exists()
    assert sorted(p.name for p in cached_llama_server().parent.iterdir()) == ["build.log"]


def test_missing_cmake_says_what_to_install() -> None:
    """Without cmake (and no binary anywhere) the error says which packages to install."""
    with pytest.raises(ProvisionError, match="apt-get install cmake g\\+\\+"):
        ensure_llama_server(progress=lambda _: None)
