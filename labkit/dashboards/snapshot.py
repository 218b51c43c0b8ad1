"""``labkit dashboards snapshot``: a PNG of every dashboard, rendered against a lab."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from labkit.dashboards.build import DASHBOARDS

__all__ = ["snapshot"]


def snapshot(out_dir: str | Path, lab: Any = None, start: Any = "-30m", end: Any = None,
             uids: Iterable[str] | None = None,
             ranges: dict[str, tuple[Any, Any]] | None = None) -> list[Path]:
    """Render each dashboard (default: all) to ``out_dir/<uid>.png``; returns the paths.

    ``ranges`` gives a dashboard its own time range (the GPU dashboard on the synthetic
    series' range when the lab has no GPU): ``{"gpu-dcgm": (start, end)}``.
    """
    from labkit.dashboards.render import render

    if lab is None:
        from labkit.lab import connect

        lab = connect()
    out = Path(out_dir)
    paths = []
    for uid in tqdm(list(uids or DASHBOARDS), desc="dashboards", unit="dashboard"):
        t0, t1 = (ranges or {}).get(uid, (start, end))
        path = out / f"{uid}.png"
        render(uid, lab, t0, t1, path=path)
        paths.append(path)
    return paths
