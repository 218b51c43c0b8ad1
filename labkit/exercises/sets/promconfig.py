"""Exercises of notebook 04b (Prometheus configuration), judged by Prometheus's own tool.

Each answer is put into a complete ``prometheus.yml`` that ``promtool check config`` must
accept; then ``promtool check service-discovery`` shows the targets Prometheus would
scrape and their labels after relabelling, and those are compared with what the
reference configuration gives on the same input. The ``kubernetes_sd`` relabelling is
judged on a ``file_sd`` target list carrying the labels Kubernetes discovery would attach
(``__meta_kubernetes_pod_annotation_prometheus_io_*``), since there is no cluster here.
"""

from __future__ import annotations

import json
from typing import Any

from labkit.exercises.core import CheckFailed, Outcome, exercise
from labkit.exercises.promtool_sd import check_config, discovered_targets, parse_yaml
from labkit.exercises.references import reference

__all__ = ["PODS"]

GLOBAL = {"scrape_interval": "15s", "evaluation_interval": "15s"}
_ANNOTATION = "__meta_kubernetes_pod_annotation_prometheus_io_"

# Pods as Kubernetes discovery would describe them: every case the relabelling must handle.
PODS = [
    {"targets": ["10.0.0.1:8080"], "labels": {  # custom path and port
        f"{_ANNOTATION}scrape": "true", f"{_ANNOTATION}path": "/custom",
        f"{_ANNOTATION}port": "9100", "__meta_kubernetes_pod_name": "llm-api-1"}},
    {"targets": ["10.0.0.2"], "labels": {  # no port in the address, port annotation
        f"{_ANNOTATION}scrape": "true", f"{_ANNOTATION}port": "8000",
        "__meta_kubernetes_pod_name": "llm-api-2"}},
    {"targets": ["10.0.0.3:8080"], "labels": {  # opted out
        f"{_ANNOTATION}scrape": "false", f"{_ANNOTATION}port": "8080",
        "__meta_kubernetes_pod_name": "batch-3"}},
    {"targets": ["10.0.0.4:5432"], "labels": {  # no annotations at all
        "__meta_kubernetes_pod_name": "postgres-4"}},
    {"targets": ["10.0.0.5:9090"], "labels": {  # path but no port annotation
        f"{_ANNOTATION}scrape": "true", f"{_ANNOTATION}path": "/stats",
        "__meta_kubernetes_pod_name": "llama-5"}},
]


def _show(targets: list[dict[str, str]]) -> str:
    kept = [f"{t.get('__address__')}{t.get('__metrics_path__', '')}" for t in targets if t]
    dropped = sum(1 for t in targets if not t)
    return f"scrapes {', '.join(kept) or 'nothing'}; drops {dropped}"


def _compare(got: list[dict[str, str]], want: list[dict[str, str]], what: str,
             evidence: dict[str, Any]) -> Outcome:
    if got == want:
        return Outcome(True, f"promtool shows the same targets as the reference: {_show(want)}",
                       evidence)
    for g, w in zip(got, want, strict=False):
        if g != w:
            keys = [k for k in sorted(set(g) | set(w)) if g.get(k) != w.get(k)]
            detail = "; ".join(f"{k}: yours {g.get(k)!r}, expected {w.get(k)!r}" for k in keys)
            return Outcome(False, f"{what}: {_show(got)}, the reference {_show(want)} "
                                  f"({detail})", evidence)
    return Outcome(False, f"{what}: {_show(got)}, the reference {_show(want)}", evidence)


def _job(answer: Any) -> dict[str, Any]:
    job = parse_yaml(answer, "scrape job")
    if isinstance(job, dict) and "scrape_configs" in job:
        raise CheckFailed("answer with one job (the mapping that starts with job_name), not a "
                          "whole prometheus.yml")
    if isinstance(job, list) and len(job) == 1:
        job = job[0]
    if not isinstance(job, dict) or "job_name" not in job:
        raise CheckFailed("a scrape job is a mapping with job_name, static_configs, ...")
    return job


def _sd(job: dict[str, Any], name: str, files: dict[str, Any] | None = None
        ) -> list[dict[str, str]]:
    config = {"global": GLOBAL, "scrape_configs": [job]}
    return check_config(config, files, then=lambda p: discovered_targets(p, name))


@exercise("promconfig.scrape_job",
          title="A scrape job: the gateway (llm-api) at api-server:9090, every 10s",
          hint="job_name llm-api, scrape_interval 10s, static_configs with targets "
               "['api-server:9090'] (metrics_path defaults to /metrics)")
def _scrape_job(answer: Any, lab: Any) -> Outcome:
    job = _job(answer)
    if job["job_name"] != "llm-api":
        return Outcome(False, f"job_name is {job['job_name']!r}: the course's gateway job is "
                              "'llm-api' (dashboards and alerts select on it)")
    got = _sd(job, "llm-api")
    want = _sd(_job(reference("promconfig.scrape_job")), "llm-api")
    return _compare(got, want, "your job", {"tool": "promtool check service-discovery"})


@exercise("promconfig.kubernetes_relabel",
          title="kubernetes_sd relabelling: keep annotated pods, their path and their port",
          hint="Three rules: keep where the prometheus.io/scrape annotation is 'true'; copy the "
               "path annotation into __metrics_path__ (regex (.+)); rewrite __address__ from "
               "the address and the port annotation (regex ([^:]+)(?::\\d+)?;(\\d+), "
               "replacement $1:$2)")
def _kubernetes_relabel(answer: Any, lab: Any) -> Outcome:
    rules = parse_yaml(answer, "relabel_configs")
    if isinstance(rules, dict) and "relabel_configs" in rules:
        rules = rules["relabel_configs"]
    if not isinstance(rules, list) or not rules:
        raise CheckFailed("answer with the list of relabel_configs rules")

    def job(relabel: list[Any]) -> dict[str, Any]:
        return {"job_name": "kubernetes-pods",
                "file_sd_configs": [{"files": ["@DIR@/pods.yml"]}],
                "relabel_configs": relabel}

    files = {"pods.yml": PODS}
    got = _sd(job(rules), "kubernetes-pods", files)
    want = _sd(job(parse_yaml(reference("promconfig.kubernetes_relabel"), "reference")),
               "kubernetes-pods", files)
    evidence = {"tool": "promtool check service-discovery", "pods": len(PODS)}
    return _compare(got, want, "on the five test pods your rules", evidence)


@exercise("promconfig.external_labels",
          title="external_labels: tag everything this Prometheus sends with cluster and region",
          hint="Under global:, external_labels: {cluster: production, region: us-east-1} — "
               "the seed's values")
def _external_labels(answer: Any, lab: Any) -> Outcome:
    block = parse_yaml(answer, "global block")
    if isinstance(block, dict) and "global" in block:
        block = block["global"]
    if not isinstance(block, dict):
        raise CheckFailed("answer with the global: block (a mapping)")
    static = {"job_name": "llm-api", "static_configs": [{"targets": ["api-server:9090"]}]}
    text = check_config({"global": block, "scrape_configs": [static]})
    import yaml

    got = (yaml.safe_load(text)["global"] or {}).get("external_labels") or {}
    want = parse_yaml(reference("promconfig.external_labels"), "reference")["external_labels"]
    evidence = {"tool": "promtool check config"}
    if {str(k): str(v) for k, v in got.items()} != want:
        return Outcome(False, f"promtool accepts it, but external_labels are "
                              f"{json.dumps(got)}; the seed has {json.dumps(want)}", evidence)
    return Outcome(True, f"promtool accepts it; external_labels {json.dumps(want)}", evidence)
