"""Render the Prometheus alerting and recording rules, and their promtool tests.

>>> from pathlib import Path
>>> paths = render_rules(Path("/tmp/lab/prometheus/rules"), lab=True, slots=4)
>>> sorted(p.name for p in paths)
['alerts.yml', 'recording.yml', 'slo.yml']
"""

from __future__ import annotations

from pathlib import Path

from labkit.errors import LabError
from labkit.runtime.templates import render_file
from labkit.runtime.templates import stack_dir as default_stack_dir

__all__ = ["ALERT_NAMES", "render_rule_tests", "render_rules"]

#: Every alert the rules define; each has promtool tests for firing and not firing.
ALERT_NAMES = (
    "HighErrorRate",
    "HighLatency",
    "NoAvailableSlots",
    "GPUMemoryHigh",
    "ServiceDown",
    "HighQueueDepth",
    "SLOBurnRateHigh",
)


def _templates(folder: Path) -> list[Path]:
    """The ``*.yml.j2`` templates of a folder; ``_*.j2`` files are includes."""
    found = sorted(folder.glob("*.yml.j2"))
    if not found:
        raise LabError(f"no *.yml.j2 rule templates in {folder}: is the stack/ folder present?")
    return found


def _context(lab: bool, slots: int) -> dict[str, object]:
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise LabError(f"slots must be a positive integer (llama-server --parallel), got {slots!r}")
    return {"lab": bool(lab), "slots": slots}


def render_rules(
    out_dir: Path, *, lab: bool, slots: int, stack_dir: Path | None = None
) -> list[Path]:
    """Render every rule file into ``out_dir`` and return the written paths.

    ``lab`` compresses time (short windows and ``for:``); ``slots`` is
    llama-server's ``--parallel`` value, which slot alerts compare against.
    """
    stack = stack_dir or default_stack_dir()
    context = _context(lab, slots)
    # Template names are relative to stack/, as in labkit.runtime.templates.
    return [
        render_file(f"prometheus/rules/{tpl.name}", [stack],
                    Path(out_dir) / tpl.name.removesuffix(".j2"), context)
        for tpl in _templates(stack / "prometheus" / "rules")
    ]


def render_rule_tests(
    out_dir: Path,
    *,
    rules_dir: Path,
    lab: bool,
    slots: int,
    stack_dir: Path | None = None,
    prometheus_major: int | None = None,
) -> list[Path]:
    """Render the promtool test files into ``out_dir``, reading rules from ``rules_dir``.

    Render the rules with the same ``lab`` and ``slots`` first (see
    :func:`render_rules`); then ``promtool test rules`` runs on the result.
    ``prometheus_major`` is the major version of the promtool that will run them
    (default: the one labkit provisions): Prometheus 3's range selectors are open on the
    left, which changes a few expected values by one sample.
    """
    stack = stack_dir or default_stack_dir()
    major = _promtool_major() if prometheus_major is None else prometheus_major
    context = {**_context(lab, slots), "rules_dir": str(Path(rules_dir).resolve()),
               "left_open_windows": major >= 3}
    return [
        render_file(f"prometheus/tests/{tpl.name}", [stack],
                    Path(out_dir) / tpl.name.removesuffix(".j2"), context)
        for tpl in _templates(stack / "prometheus" / "tests")
    ]


def _promtool_major() -> int:
    """The major version of the promtool labkit would run (3 when it cannot tell)."""
    from labkit.runtime.origins import binary_version
    from labkit.runtime.provision import locate

    try:
        found = locate("promtool")
    except LabError:
        return 3
    if found is None:
        return 3
    version = binary_version(found.path, "promtool")
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 3
