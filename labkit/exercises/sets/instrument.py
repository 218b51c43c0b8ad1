"""prometheus_client exercises of notebook 04b: instrument a function, and the check scrapes it.

The learner writes ``instrument(registry)``: it creates metrics in ``registry`` and returns
a ``handle(...)`` function that records one call. The check gives it a fresh registry,
replays a fixed list of calls, serves the registry over HTTP as Prometheus would scrape
it, parses the exposition and compares name, type, labels, bucket layout and counts with
what the exercise asks for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from labkit.exercises.core import CheckFailed, Outcome, exercise

__all__ = ["CACHE_CALLS", "TOKEN_BUCKETS", "TOKEN_CALLS"]

TOKEN_BUCKETS = (16.0, 64.0, 256.0, 1024.0)
TOKEN_CALLS = [("labkit-tiny", 12), ("labkit-tiny", 80), ("labkit-small", 300),
               ("labkit-tiny", 2000), ("labkit-small", 40), ("labkit-tiny", 64)]
CACHE_CALLS = [True, False, True, True, False, True, True]


def _handler(answer: Any, registry: CollectorRegistry) -> Callable[..., Any]:
    if isinstance(answer, str):  # source code defining instrument(registry)
        namespace: dict[str, Any] = {}
        exec(compile(answer, "<answer>", "exec"), namespace)
        answer = namespace.get("instrument")
    if not callable(answer):
        raise CheckFailed("answer with the function instrument(registry) (or its source)")
    handle = answer(registry)
    if not callable(handle):
        raise CheckFailed("instrument(registry) must return the handle(...) function")
    return handle


def _scrape(registry: CollectorRegistry) -> dict[str, Any]:
    """Serve the registry on a loopback port, GET /metrics once, parse it."""
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return {f.name: f for f in text_string_to_metric_families(text)}


def _source(answer: Any) -> str:
    if isinstance(answer, str):
        return answer
    try:
        return inspect.getsource(answer)
    except (OSError, TypeError):
        return repr(answer)


def _run(answer: Any, calls: list[Any]) -> dict[str, Any]:
    registry = CollectorRegistry()
    handle = _handler(answer, registry)
    for call in calls:
        handle(*call) if isinstance(call, tuple) else handle(call)
    return _scrape(registry)


@exercise("instrument.token_histogram",
          title="A histogram of completion tokens per request, by model",
          hint="Histogram('llm_completion_tokens', '...', ['model'], buckets=(16, 64, 256, 1024),"
               " registry=registry); handle(model, tokens) observes tokens under its model")
def _token_histogram(answer: Any, lab: Any) -> Outcome:
    families = _run(answer, TOKEN_CALLS)
    evidence = {"calls": len(TOKEN_CALLS), "scraped": sorted(families)}
    fam = families.get("llm_completion_tokens")
    if fam is None:
        return Outcome(False, f"no metric llm_completion_tokens in the scrape (found: "
                              f"{', '.join(sorted(families)) or 'nothing'})", evidence)
    if fam.type != "histogram":
        return Outcome(False, f"llm_completion_tokens is a {fam.type}, not a histogram",
                       evidence)
    buckets: dict[str, dict[float, float]] = {}
    for s in fam.samples:
        if s.name.endswith("_bucket"):
            if set(s.labels) != {"model", "le"}:
                return Outcome(False, f"labels are {sorted(set(s.labels) - {'le'})}, the "
                                      "exercise asks for model only", evidence)
            buckets.setdefault(s.labels["model"], {})[float(s.labels["le"])] = s.value
    layout = sorted(next(iter(buckets.values()), {}))
    if layout != [*TOKEN_BUCKETS, float("inf")]:
        return Outcome(False, f"buckets are {[f'{b:g}' for b in layout]}, the exercise asks "
                              "for 16, 64, 256, 1024 (and +Inf)", evidence)
    for model in {m for m, _ in TOKEN_CALLS}:
        want = {le: sum(1 for m, t in TOKEN_CALLS if m == model and t <= le)
                for le in layout}
        if buckets.get(model) != want:
            return Outcome(False, f"{model}: bucket counts {buckets.get(model)} after the "
                                  f"test calls, expected {want} (observe the tokens)", evidence)
    return Outcome(True, f"histogram llm_completion_tokens{{model}} with buckets 16..1024; "
                         f"counts right after {len(TOKEN_CALLS)} calls", evidence)


@exercise("instrument.cache_counter",
          title="A labelled counter of prompt-cache lookups: hit or miss",
          hint="Counter('llm_cache_lookups', '...', ['result'], registry=registry) (exposed as "
               "llm_cache_lookups_total); handle(hit) increments result='hit' or 'miss'")
def _cache_counter(answer: Any, lab: Any) -> Outcome:
    families = _run(answer, CACHE_CALLS)
    evidence = {"calls": len(CACHE_CALLS), "scraped": sorted(families)}
    fam = families.get("llm_cache_lookups")
    if fam is None or fam.type != "counter":
        found = f"a {fam.type}" if fam else "nothing by that name"
        return Outcome(False, f"expected the counter llm_cache_lookups_total, found {found} "
                              f"(scraped: {', '.join(sorted(families)) or 'nothing'})", evidence)
    got = {tuple(sorted(s.labels.items())): s.value for s in fam.samples
           if s.name.endswith("_total")}
    want = {(("result", "hit"),): float(sum(CACHE_CALLS)),
            (("result", "miss"),): float(len(CACHE_CALLS) - sum(CACHE_CALLS))}
    if got != want:
        seen = {dict(k).get("result", str(dict(k))): v for k, v in got.items()}
        return Outcome(False, f"after {len(CACHE_CALLS)} lookups the counter reads {seen}, "
                              "expected hit 5, miss 2", evidence)
    return Outcome(True, "llm_cache_lookups_total{result} counts 5 hits and 2 misses", evidence)
