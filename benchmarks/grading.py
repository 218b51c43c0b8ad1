"""How fast `labkit grade` scores a class: 40 submissions of notebook 01, --jobs 1 vs --jobs 4.

Starts its own lab (ports offset by 15000, in a temporary run folder), makes a class of
submissions of notebook 01 (a third with every answer, a third with some, a third empty),
grades them with one job and then with four, and prints submissions per minute for each,
the speed-up, and the peak memory of everything the grader ran (grader, workers, kernels),
with and without the idle lab's own services.

    python benchmarks/grading.py [--count 40] [--load-seconds 5] [--load-rate 6]
    python benchmarks/grading.py --count 4          # a quick check that it works

Notebook 01 generates traffic for LOAD_SECONDS (40 s by default, for a learner); graders
pass a shorter value with ``-p LOAD_SECONDS 5``: the checks are hermetic, so the score does
not depend on how much traffic there was.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil

from labkit.config import LabConfig
from labkit.exercises.release import strip_solutions
from labkit.grading import GradeSettings, grade
from labkit.lab import Lab

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01-metrics.ipynb"


def make_class(count: int, folder: Path) -> dict[str, int]:
    """Write ``count`` submissions; returns how many of each kind."""
    source = nbformat.read(NOTEBOOK, as_version=4)
    student = strip_solutions(source, NOTEBOOK.name)
    answer_cells = [i for i, c in enumerate(source.cells) if "# BEGIN SOLUTION" in c.source]
    kinds = {"full": 0, "partial": 0, "empty": 0}
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        kind = ("full", "partial", "empty")[n % 3]
        nb = nbformat.from_dict(student)
        if kind != "empty":
            keep = answer_cells if kind == "full" else answer_cells[n % 2::2]
            for i in keep:  # a learner's answer: the solution without its markers
                text = source.cells[i].source.replace("# BEGIN SOLUTION\n", "")
                nb.cells[i].source = text.replace("\n# END SOLUTION", "")
        nbformat.write(nb, folder / f"student{n:02d}-01-metrics.ipynb")
        kinds[kind] += 1
    return kinds


def tree_rss() -> int:
    """Summed RSS of this process and all its descendants (the lab's services among them)."""
    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class PeakMemory:
    """Samples :func:`tree_rss` every half second; ``peak`` is the highest sample."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss())
            self._stop.wait(0.5)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=40, help="submissions (at least 1)")
    ap.add_argument("--load-seconds", type=float, default=5)
    ap.add_argument("--load-rate", type=float, default=6.0, help="LOAD_RATE of notebook 01")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 4])
    a = ap.parse_args()
    if a.count < 1 or any(j < 1 for j in a.jobs):
        ap.error("--count and every --jobs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="labkit-bench-grading-") as tmp:
        root = Path(tmp)
        kinds = make_class(a.count, root / "submissions")
        print(f"class: {a.count} submissions of {NOTEBOOK.name} "
              f"({', '.join(f'{n} {k}' for k, n in kinds.items())}), "
              f"LOAD_SECONDS={a.load_seconds:g}, LOAD_RATE={a.load_rate:g}, "
              f"{psutil.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        config = LabConfig(run_dir=root / "lab", port_offset=15000)
        with Lab(config) as lab:
            os.environ.update(LABKIT_RUN_DIR=str(config.run_dir),
                              LABKIT_PORT_OFFSET=str(config.port_offset))
            results = {}
            for jobs in a.jobs:
                settings = GradeSettings(sources=NOTEBOOK.parent, jobs=jobs, progress=True,
                                         parameters={"LOAD_SECONDS": a.load_seconds,
                                                     "LOAD_RATE": a.load_rate})
                idle = tree_rss()  # the lab and this process, before any grading
                with PeakMemory() as mem:
                    t0 = time.monotonic()
                    rows = grade([root / "submissions"], root / f"out-j{jobs}", settings, lab)
                    elapsed = time.monotonic() - t0
                statuses = sorted({r.status for r in rows})
                totals = sorted({r.total for r in rows})
                results[jobs] = elapsed
                print(f"--jobs {jobs}: {len(rows)} graded in {elapsed:.0f}s = "
                      f"{len(rows) / elapsed * 60:.1f} submissions/min; peak memory "
                      f"{mem.peak / 2**20:.0f} MiB ({(mem.peak - idle) / 2**20:.0f} MiB over "
                      f"the idle lab's {idle / 2**20:.0f} MiB); statuses {statuses}; "
                      f"totals {totals}")
            if len(results) > 1:
                base = results[a.jobs[0]]
                for jobs, elapsed in list(results.items())[1:]:
                    print(f"speed-up --jobs {jobs} vs --jobs {a.jobs[0]}: {base / elapsed:.2f}x")


if __name__ == "__main__":
    main()
