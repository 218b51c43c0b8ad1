"""Run a scrape configuration through ``promtool``: validate it, and show its targets.

``promtool check config`` says whether Prometheus would load the file;
``promtool check service-discovery <file> <job>`` runs the job's service discovery and
relabelling and prints every target with the labels it would be scraped with (an empty
label set: dropped). The configuration exercises are judged on that output.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from labkit.alerting.tools import _run
from labkit.exercises.core import CheckFailed

__all__ = ["check_config", "discovered_targets", "parse_yaml"]

Target = dict[str, str]


def parse_yaml(answer: Any, what: str) -> Any:
    """The learner's YAML (a string) or an already-parsed object."""
    if isinstance(answer, str):
        try:
            return yaml.safe_load(answer)
        except yaml.YAMLError as exc:
            raise CheckFailed(f"your {what} is not valid YAML: {exc}") from None
    return answer


def check_config(config: dict[str, Any], files: dict[str, Any] | None = None,
                 then: Callable[[Path], Any] | None = None) -> Any:
    """Write ``config`` (and ``files`` beside it), require ``promtool check config`` to pass,
    then return ``then(path)`` (or the path's text)."""
    with tempfile.TemporaryDirectory(prefix="labkit-promconfig-") as tmp:
        for name, content in (files or {}).items():
            (Path(tmp) / name).write_text(yaml.safe_dump(content))
        text = yaml.safe_dump(config, sort_keys=False).replace("@DIR@", tmp)
        path = Path(tmp) / "prometheus.yml"
        path.write_text(text)
        result = _run("promtool", ["check", "config", str(path)], timeout=60)
        if not result.ok:
            detail = result.output.replace(tmp + "/", "")
            raise CheckFailed(f"promtool check config rejects it:\n{detail[-600:]}")
        return then(path) if then else text


def discovered_targets(path: Path, job: str) -> list[Target]:
    """The labels each target of ``job`` gets after relabelling, sorted; ``{}`` = dropped.

    promtool waits the whole ``--timeout`` for discovery updates; static and file
    discovery answer at once, so one second is plenty.
    """
    result = _run("promtool", ["check", "service-discovery", "--timeout=1s", str(path), job],
                  timeout=60)
    if not result.ok:
        raise CheckFailed(f"promtool check service-discovery failed for job {job!r}:\n"
                          f"{result.output[-600:]}")
    found = json.loads(result.stdout or "[]")
    targets = [{k: v for k, v in (t.get("labels") or {}).items() if k != "__meta_filepath"}
               for t in found]
    return sorted(targets, key=lambda t: json.dumps(t, sort_keys=True))
