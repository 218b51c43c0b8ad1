"""Start a graded student's kernel where it can neither read the solutions nor change a file.

``python -m labkit.grading.jail CONFIG.json -f CONNECTION_FILE`` is the kernel spec's command.
With ``isolate`` (root on Linux) it starts the kernel in new mount and PID namespaces:

- the labkit package is replaced by a read-only copy without the reference answers, and the
  instructor's repository (notebooks, tests, git history), the submissions and the grade
  book are hidden under empty, read-only mounts (``masks``);
- every mount is read-only except a private ``/tmp``, ``/dev/shm`` and the submission's
  scratch folder, so the kernel cannot overwrite labkit's code, the binaries the grader
  runs or another submission;
- ``/proc`` shows only the kernel's own processes, so it cannot signal the grader or reach
  the host's files through ``/proc/PID/root``; ``/dev`` has only null, zero, random and tty;
- the kernel runs as root without any capability (``setpriv``), so it cannot undo a mount.

Without isolation it only puts the stripped copy of labkit first on ``sys.path`` (the
references cannot be imported, though a determined kernel could read them from disk).
Both ways, an address-space limit turns a memory bomb into a ``MemoryError``.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
_KEEP_RW = ("/proc", "/sys", "/dev")
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = ctypes.CDLL(None, use_errno=True)


def _sys(name: str, *args: Any) -> None:
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args[:2]}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _sys("mount", enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3])


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        raw = line.split()[4]
        points.append(raw.encode().decode("unicode_escape"))  # \040 is a space
    return points


def _minimal_dev(devices: dict[str, int]) -> None:
    """A /dev with only the harmless devices: no disk a capability-less root could write."""
    _mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "size=64k,mode=755")
    for name, fd in devices.items():
        Path(f"/dev/{name}").touch()
        _mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{name}")
    os.mkdir("/dev/shm")
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=1777")


def _build_view(cfg: dict[str, Any]) -> None:
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Handles on what must stay reachable, taken before anything is hidden.
    keep = {p: os.open(p, os.O_PATH) for p in cfg["writable"] + list(cfg["rebind"])}
    package = os.open(cfg["stripped_package"], os.O_PATH)
    devices = {name: os.open(f"/dev/{name}", os.O_PATH) for name in _DEVICES}
    for mask in cfg["masks"]:
        if os.path.isdir(mask):
            _mount("tmpfs", mask, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=755")
        elif os.path.exists(mask):
            _mount("/dev/null", mask, None, MS_BIND)
    # The private /tmp goes on before the package and what is kept are bound back, so that
    # a checkout, venv or lab that lives under /tmp stays reachable (read-only) inside it.
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=1777")
    target = cfg["package"]
    os.makedirs(target, exist_ok=True)
    _mount(f"/proc/self/fd/{package}", target, None, MS_BIND)
    for path in cfg["rebind"]:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{keep[path]}", path, None, MS_BIND | MS_REC)
    for point in _mount_points():
        if point.startswith(_KEEP_RW) or point == "/tmp":
            continue
        try:
            flags = os.statvfs(point).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except FileNotFoundError:  # a mount the private /tmp covers: out of reach already
            continue
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            if point == "/":
                raise
    _minimal_dev(devices)
    for path in cfg["writable"]:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{keep[path]}", path, None, MS_BIND)
        # A bind mount copies the read-only flag of the mount it came from: lift it.
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    for fd in [*keep.values(), *devices.values(), package]:
        os.close(fd)


def _limit(cfg: dict[str, Any]) -> None:
    memory = int(cfg.get("memory_bytes") or 0)
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _forward_and_wait(child: int) -> int:
    def forward(signum: int, _frame: Any) -> None:
        # The kernel is PID 1 of its namespace: it ignores SIGTERM, so end it for real.
        os.kill(child, signal.SIGKILL if signum != signal.SIGINT else signal.SIGINT)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            return os.waitstatus_to_exitcode(status)
        except InterruptedError:
            continue


def _init(kernel_pid: int) -> int:
    """PID 1: pass interrupts to the kernel, reap orphans, exit when the kernel does."""
    signal.signal(signal.SIGINT, lambda *_: os.kill(kernel_pid, signal.SIGINT))
    while True:
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        if pid == kernel_pid:
            return os.waitstatus_to_exitcode(status) & 0xFF


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    cfg = json.loads(Path(args[0]).read_text())
    kernel = [sys.executable, "-m", "ipykernel_launcher", *args[1:]]
    os.environ.update(cfg.get("env", {}))
    # The kernel dies with the grader's worker, however the worker ends.
    _sys("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if not cfg.get("isolate"):
        _limit(cfg)
        os.execv(kernel[0], kernel)
    _sys("unshare", CLONE_NEWNS | CLONE_NEWPID)
    child = os.fork()
    if child:
        return _forward_and_wait(child)
    try:
        _sys("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.setpgid(0, 0)  # a killpg aimed at the launcher reaches the kernel only once
        _build_view(cfg)
        kernel_pid = os.fork()
        if kernel_pid == 0:
            # ipykernel would take its parent (our PID 1) for init and shut down; the
            # kernel dies with its parent anyway (PDEATHSIG), so it needs no poller.
            os.environ.pop("JPY_PARENT_PID", None)
            _limit(cfg)
            os.chdir(cfg["cwd"])
            os.execvp("setpriv", ["setpriv", "--bounding-set=-all", "--inh-caps=-all",
                                  "--no-new-privs", "--", *kernel])
        # PID 1 of the namespace stays ours: the kernel is an ordinary process that a
        # student's os.kill(os.getpid(), 9) really kills, and its end ends the namespace.
        os._exit(_init(kernel_pid))
    except BaseException as exc:  # the child must never return into the parent's code
        print(f"labkit grade: cannot start the isolated kernel: {exc}", file=sys.stderr)
        os._exit(70)
    return 70


if __name__ == "__main__":
    sys.exit(main())
