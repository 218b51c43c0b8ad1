"""Execute one prepared submission with papermill, in a worker process the grader can kill.

:func:`run_submission` forks a worker from a server that has papermill imported already,
in its own session and with the graded kernel's environment, waits at most the notebook
timeout, then kills the worker and its kernel whatever they do. papermill saves the notebook
after every cell, so answers recorded before a crash, a timeout or a dead kernel are still
there to grade.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = ["Execution", "run_submission", "worker"]


@dataclass(frozen=True)
class Execution:
    """How a run ended: ``ok``, ``cell errors``, ``timeout``, ``kernel died`` or ``error``."""

    status: str
    error: str
    duration_s: float


def _kill_tree(pid: int) -> None:
    """Kill a live worker and everything under it (its kernel dies with it: PDEATHSIG)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _forkserver() -> Any:
    """Workers fork from one server that has papermill imported (importing it takes seconds)."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["labkit.grading.execute", "papermill", "nbclient",
                                    "nbformat", "jupyter_client"])
        _CONTEXT = ctx
    return _CONTEXT


_CONTEXT: Any = None


def _child(argv: list[str], env: dict[str, str], log: str) -> None:
    os.setsid()  # its own session: the grader can kill the worker and its kernel together
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.clear()
    os.environ.update(env)
    worker(argv)


def run_submission(prepared: Path, output: Path, env: dict[str, str], *, cwd: Path,
                   parameters: dict[str, object], cell_timeout: float,
                   notebook_timeout: float) -> Execution:
    """Execute ``prepared`` into ``output``; never raises for anything the notebook does."""
    status_file = output.with_suffix(".status.json")
    status_file.unlink(missing_ok=True)
    argv = [str(prepared), str(output), "--cwd", str(cwd), "--cell-timeout", str(cell_timeout),
            "--parameters", json.dumps(parameters), "--status", str(status_file)]
    log = output.with_suffix(".log")
    t0 = time.monotonic()
    proc = _forkserver().Process(target=_child, args=(argv, {**os.environ, **env}, str(log)))
    proc.start()
    try:
        proc.join(timeout=notebook_timeout)
        if proc.is_alive():
            _kill_tree(proc.pid)
            proc.join()
            return Execution("timeout", f"the notebook ran past {notebook_timeout:g}s and was "
                             f"stopped{_where(output)}", time.monotonic() - t0)
    finally:
        if proc.is_alive():
            _kill_tree(proc.pid)
    duration = time.monotonic() - t0
    try:
        found = json.loads(status_file.read_text())
        return Execution(found["status"], found["error"], duration)
    except (OSError, ValueError, KeyError):
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        return Execution("error", f"the grader's worker exited with {proc.exitcode}: "
                         + " | ".join(tail), duration)


def _where(output: Path) -> str:
    """`` in cell N (`first line`)`` for the cell papermill was running, if known."""
    import nbformat

    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:
        return ""
    for index, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            return f" in cell {index} (`{first}`)"
    return ""


def _describe(nb_path: Path) -> tuple[str, str]:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    errors, interrupted = [], False
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            name = out.get("ename", "")
            if name == "KeyboardInterrupt":  # nbclient interrupts a cell past its timeout
                interrupted = True
                errors.append(f"cell {index} ran past the cell timeout and was interrupted")
            elif name == "MemoryError":
                errors.append(f"cell {index}: MemoryError (the kernel's memory limit)")
            else:
                errors.append(f"cell {index}: {name}: {out.get('evalue', '')[:120]}")
    text = "; ".join(errors[:5]) + (" ..." if len(errors) > 5 else "")
    if interrupted:
        return "timeout", text
    return ("cell errors", text) if errors else ("ok", "")


def worker(argv: list[str]) -> int:
    """The worker process: execute, then write how it ended to ``--status``."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--cwd")
    p.add_argument("--cell-timeout", type=float)
    p.add_argument("--parameters")
    p.add_argument("--status")
    a = p.parse_args(argv)
    output = Path(a.output)
    try:
        papermill.execute_notebook(
            a.input, a.output, parameters=json.loads(a.parameters),
            kernel_name="labkit-graded", cwd=a.cwd, progress_bar=False, log_output=False,
            execution_timeout=a.cell_timeout, start_timeout=120,
            allow_errors=True, interrupt_on_timeout=True)
        status, error = _describe(output)
    except DeadKernelError as exc:
        status, error = "kernel died", f"the kernel died{_where(output)}: {exc}"
    except CellTimeoutError:
        status, error = "timeout", f"a cell ran past {a.cell_timeout:g}s{_where(output)}"
    except papermill.PapermillExecutionError:
        status, error = _describe(output)
    except Exception as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"[:500]
    Path(a.status).write_text(json.dumps({"status": status, "error": error}))
    return 0

