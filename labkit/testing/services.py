"""Ports, service processes and polling for tests, built on :mod:`labkit.runtime.process`."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from labkit.runtime.process import ServiceProcess, log_tail, wait_healthy

T = TypeVar("T")

__all__ = ["free_port", "poll_until", "run_service", "start_service"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_service(name: str, argv: Sequence[str | os.PathLike[str]], *, log_path: Path,
                  health_url: str | None = None, env: dict[str, str] | None = None,
                  cwd: Path | None = None, timeout: float = 30.0) -> ServiceProcess:
    """Start ``argv`` and wait until ``health_url`` answers 200; the caller stops it.

    A process that exits or never gets healthy is stopped and raises
    :class:`~labkit.errors.ServiceStartError` or :class:`~labkit.errors.ServiceNotReady`,
    with the last lines of ``log_path``.
    """
    proc = ServiceProcess.spawn(name, [os.fspath(a) for a in argv], log_path, env=env, cwd=cwd)
    try:
        wait_healthy(proc, health_url, timeout)
    except BaseException:
        proc.stop()
        raise
    return proc


@contextmanager
def run_service(name: str, argv: Sequence[str | os.PathLike[str]], *, log_path: Path,
                health_url: str | None = None, env: dict[str, str] | None = None,
                cwd: Path | None = None, timeout: float = 30.0) -> Iterator[ServiceProcess]:
    """:func:`start_service` as a ``with`` block: the service (its whole group) stops at the end.

    >>> port = free_port()                                              # doctest: +SKIP
    >>> with run_service("sink", [sys.executable, "-m", "labkit.standins.sink", "--port",
    ...                  str(port)], log_path=tmp / "sink.log",
    ...                  health_url=f"http://127.0.0.1:{port}/health"):    # doctest: +SKIP
    ...     ...
    """
    proc = start_service(name, argv, log_path=log_path, health_url=health_url, env=env,
                         cwd=cwd, timeout=timeout)
    try:
        yield proc
    finally:
        proc.stop()


def poll_until(what: str, fetch: Callable[[], T], ready: Callable[[T], bool],
               timeout: float = 15.0, interval: float = 1.0, *,
               log_path: Path | None = None) -> T:
    """Call ``fetch`` until ``ready(value)``; fail naming what never came and the last value.

    Services scrape, ship and export on their own clocks, so tests wait for what they
    expect instead of sleeping a fixed time. The failure ends with the last lines of
    ``log_path``, the log of the service that should have delivered.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value):
            return value
        if time.monotonic() > deadline:
            tail = f"\nLast lines of {log_path}:\n{log_tail(log_path)}" if log_path else ""
            raise AssertionError(
                f"{what}: not seen within {timeout:g}s; last seen:\n{value!r}{tail}")
        time.sleep(interval)
