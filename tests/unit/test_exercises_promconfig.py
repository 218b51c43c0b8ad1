"""Notebook 04b's checks: promtool decides scrape jobs, relabelling and external labels;
the prometheus_client exercises are scraped over HTTP."""

from __future__ import annotations

import pytest

from labkit.exercises.references import reference
from tests.unit.exercise_helpers import needs_promtool, verdict_of

K8S = reference("promconfig.kubernetes_relabel")
KEEP, PATH, ADDRESS = ("\n".join(block) for block in (
    K8S.splitlines()[0:3], K8S.splitlines()[3:7], K8S.splitlines()[7:12]))
assert KEEP.startswith("- ") and PATH.startswith("- ") and ADDRESS.startswith("- ")

JOB = "job_name: llm-api\nscrape_interval: 10s\nstatic_configs:\n  - targets: [{t}]\n"
SCRAPE = [
    pytest.param(reference("promconfig.scrape_job"), "passed", id="right-reference"),
    pytest.param(JOB.format(t="'api-server:9090'"), "passed", id="right-default-path"),
    pytest.param("- " + JOB.format(t="api-server:9090").replace("\n", "\n  "), "passed",
                 id="right-as-list"),
    pytest.param(JOB.replace("10s", "15s").format(t="'api-server:9090'"), "failed",
                 id="wrong-interval"),
    pytest.param(JOB.format(t="'api-server:8000'"), "failed", id="wrong-port"),
    pytest.param(JOB.format(t="'api-server:9090'").replace("llm-api", "gateway"), "failed",
                 id="wrong-job-name"),
    pytest.param(JOB.format(t="'api-server:9090'") + "metrics_path: /metric\n", "failed",
                 id="wrong-path"),
    pytest.param(JOB.format(t="'api-server:9090'") + "scheme: https\n", "failed",
                 id="wrong-scheme"),
    pytest.param(JOB.format(t="'api-server:9090', 'server2:9090'"), "failed",
                 id="wrong-extra-target"),
    pytest.param("job_name: llm-api\nscrape_interval: 10s\ntargets: ['api-server:9090']\n",
                 "failed", id="wrong-not-static-configs"),
]
RELABEL = [
    pytest.param(K8S, "passed", id="right-reference"),
    pytest.param("\n".join([KEEP, ADDRESS, PATH]), "passed", id="right-reordered"),
    pytest.param(KEEP.replace("regex: true", "regex: 'true'"), "failed", id="wrong-keep-only"),
    pytest.param("\n".join([PATH, ADDRESS]), "failed", id="wrong-no-keep"),
    pytest.param("\n".join([KEEP, ADDRESS]), "failed", id="wrong-no-path"),
    pytest.param("\n".join([KEEP, PATH]), "failed", id="wrong-no-address"),
    pytest.param("\n".join([KEEP.replace("keep", "drop"), PATH, ADDRESS]), "failed",
                 id="wrong-drop"),
    pytest.param("\n".join([KEEP, PATH, ADDRESS.replace("$1:$2", "$2:$1")]), "failed",
                 id="wrong-replacement"),
    pytest.param("\n".join([KEEP, PATH.replace("(.+)", "(.*)"), ADDRESS]), "failed",
                 id="wrong-path-regex-empty"),
    pytest.param("\n".join([KEEP, PATH, ADDRESS.replace("([^:]+)(?::\\d+)?;(\\d+)",
                                                        "(.+);(\\d+)")]),
                 "failed", id="wrong-address-regex"),
]
EXTERNAL = [
    pytest.param(reference("promconfig.external_labels"), "passed", id="right-reference"),
    pytest.param("external_labels: {cluster: production, region: us-east-1}", "passed",
                 id="right-flow-style"),
    pytest.param("external_labels: {cluster: production}", "failed", id="wrong-no-region"),
    pytest.param("external_labels: {cluster: prod, region: us-east-1}", "failed",
                 id="wrong-value"),
    pytest.param("external_labels: [cluster=production, region=us-east-1]", "failed",
                 id="wrong-list"),
    pytest.param("external_labels: {cluster-name: production, region: us-east-1}", "failed",
                 id="wrong-label-name"),
    pytest.param("labels: {cluster: production, region: us-east-1}", "failed",
                 id="wrong-key"),
    pytest.param("scrape_interval: 15s", "failed", id="wrong-none"),
]


@needs_promtool
@pytest.mark.parametrize(("answer", "expected"), SCRAPE)
def test_scrape_job(answer: str, expected: str) -> None:
    """promtool's discovered targets for the job decide."""
    assert verdict_of("promconfig.scrape_job", answer).status == expected


@needs_promtool
@pytest.mark.parametrize(("answer", "expected"), RELABEL)
def test_kubernetes_relabel(answer: str, expected: str) -> None:
    """promtool check service-discovery on five annotated pods decides."""
    verdict = verdict_of("promconfig.kubernetes_relabel", answer)
    assert verdict.status == expected, verdict
    assert verdict.evaluated_on == {"tool": "promtool check service-discovery", "pods": 5}


@needs_promtool
@pytest.mark.parametrize(("answer", "expected"), EXTERNAL)
def test_external_labels(answer: str, expected: str) -> None:
    """promtool must accept the block, and the labels must be the seed's."""
    verdict = verdict_of("promconfig.external_labels", answer)
    assert verdict.status == expected, verdict


HISTOGRAM = '''
from prometheus_client import {kind}
def instrument(registry):
    m = {kind}("{name}", "completion tokens", {labels}, {buckets}registry=registry)
    def handle(model, tokens):
        m{select}.{call}({value})
    return handle
'''


def _hist(kind: str = "Histogram", name: str = "llm_completion_tokens",
          labels: str = "['model']", buckets: str = "buckets=(16, 64, 256, 1024), ",
          select: str = ".labels(model)", call: str = "observe", value: str = "tokens") -> str:
    return HISTOGRAM.format(kind=kind, name=name, labels=labels, buckets=buckets,
                            select=select, call=call, value=value)


@pytest.mark.parametrize(("answer", "expected"), [
    pytest.param(_hist(), "passed", id="right"),
    pytest.param(_hist(buckets="buckets=[16.0, 64.0, 256.0, 1024.0, float('inf')], "),
                 "passed", id="right-explicit-inf"),
    pytest.param(_hist(buckets=""), "failed", id="wrong-default-buckets"),
    pytest.param(_hist(buckets="buckets=(10, 100, 1000), "), "failed", id="wrong-buckets"),
    pytest.param(_hist(kind="Summary", buckets=""), "failed", id="wrong-summary"),
    pytest.param(_hist(kind="Counter", buckets="", call="inc"), "failed", id="wrong-counter"),
    pytest.param(_hist(labels="[]", select=""), "failed", id="wrong-no-label"),
    pytest.param(_hist(value="1"), "failed", id="wrong-observes-one"),
    pytest.param(_hist(name="completion_tokens"), "failed", id="wrong-name"),
])
def test_token_histogram(answer: str, expected: str) -> None:
    """Name, type, labels, bucket layout and counts after the test calls decide."""
    verdict = verdict_of("instrument.token_histogram", answer)
    assert verdict.status == expected, verdict


def test_token_histogram_accepts_the_function_itself() -> None:
    """A notebook passes the function object; it is called like the source would be."""
    namespace: dict = {}
    exec(_hist(), namespace)
    assert verdict_of("instrument.token_histogram", namespace["instrument"]).status == "passed"


COUNTER = '''
from prometheus_client import {kind}
def instrument(registry):
    c = {kind}("{name}", "prompt cache lookups", ["{label}"], registry=registry)
    def handle(hit):
        c.labels({value}).{call}()
    return handle
'''


def _counter(kind: str = "Counter", name: str = "llm_cache_lookups", label: str = "result",
             value: str = '"hit" if hit else "miss"', call: str = "inc") -> str:
    return COUNTER.format(kind=kind, name=name, label=label, value=value, call=call)


@pytest.mark.parametrize(("answer", "expected"), [
    pytest.param(_counter(), "passed", id="right"),
    pytest.param(_counter(name="llm_cache_lookups_total"), "passed", id="right-total-suffix"),
    pytest.param(_counter(kind="Gauge"), "failed", id="wrong-gauge"),
    pytest.param(_counter(label="status"), "failed", id="wrong-label-name"),
    pytest.param(_counter(value='"miss" if hit else "hit"'), "failed", id="wrong-swapped"),
    pytest.param(_counter(value='"hit"'), "failed", id="wrong-always-hit"),
    pytest.param(_counter(name="cache_lookups"), "failed", id="wrong-name"),
    pytest.param(_counter(value='str(hit)'), "failed", id="wrong-values"),
])
def test_cache_counter(answer: str, expected: str) -> None:
    """A counter named llm_cache_lookups_total with result hit/miss, counted right."""
    verdict = verdict_of("instrument.cache_counter", answer)
    assert verdict.status == expected, verdict


def test_a_broken_answer_is_an_error_not_a_crash() -> None:
    """Code that raises becomes a verdict, and nothing at all is 'not attempted'."""
    assert verdict_of("instrument.cache_counter", "def instrument(r): 1/0").status == "error"
    assert verdict_of("instrument.cache_counter", None).status == "not attempted"
