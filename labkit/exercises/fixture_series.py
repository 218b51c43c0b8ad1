"""The synthetic series the PromQL exercises are judged on (see :mod:`.promql_fixture`).

Ten minutes of a gateway serving two models, sampled every 15 s, as the gateway exports
them (names, labels, ``le`` strings as client_python writes them). Built to make the
common mistakes visible:

* traffic doubles at 5m and increments vary from step to step, so another window,
  ``irate`` or ``increase`` instead of ``rate``, or a raw counter give other numbers;
* counters start far from zero, so a missing ``rate()`` is far off;
* errors start at 3m, come from both models at different ratios, and the two error
  counters agree (``llm_request_errors_total`` sums to the error requests), so a
  numerator alone, a constant or a missing ``sum`` differ;
* request durations get slower at 5m, and the models differ, so a missing ``by (le)``,
  another quantile or an unsummed histogram differ;
* llama-server predicts more tokens than the gateway returns (its held slots), and
  prompt tokens differ from completion tokens;
* the gauges move every step, so ``avg_over_time`` or one gauge alone differ.
"""

from __future__ import annotations

from collections.abc import Sequence

from labkit.exercises.promql_fixture import SeriesFixture

__all__ = ["METRICS_FIXTURE", "STEPS"]

STEPS = 41  # 0 .. 10m at 15 s
CHANGE = 20  # the step at 5m, from which traffic doubles and requests slow down
ERRORS_FROM = 12  # the step at 3m, from which requests fail
JITTER = (0, 3, -2, 1, -1, 2, -3, 1, 2, -1, 0, -2)
GW = 'job="llm-api", instance="gateway:8000"'
ENDPOINT = 'endpoint="/v1/chat/completions"'
DURATION_LE = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
TTFT_LE = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)

# model: (successes per step before, after), (errors per step before, after), tokens each
MODELS = {
    "labkit-tiny": ((30, 60), (4, 14), 16),
    "labkit-small": ((10, 14), (2, 2), 24),
}
# Fraction of requests per duration bucket (non-cumulative; the rest go to the last one).
DURATION_MIX = {
    "labkit-tiny": ((0.30, 0.45, 0.15, 0.06, 0.03, 0.01), (0.05, 0.25, 0.30, 0.20, 0.12, 0.05)),
    "labkit-small": ((0.10, 0.40, 0.30, 0.12, 0.06, 0.02), (0.02, 0.18, 0.30, 0.28, 0.15, 0.05)),
}
TTFT_MIX = {
    "labkit-tiny": ((0.20, 0.40, 0.25, 0.10, 0.05), (0.05, 0.20, 0.35, 0.25, 0.10)),
    "labkit-small": ((0.05, 0.30, 0.35, 0.20, 0.10), (0.02, 0.10, 0.30, 0.35, 0.15)),
}


def _per_step(before: int, after: int, *, first: int = 1, shift: int = 0) -> list[int]:
    """Increments at steps 0..STEPS-1 (0 at step 0 and before ``first``), with jitter."""
    out = [0]
    for i in range(1, STEPS):
        base = 0 if i < first else (before if i < CHANGE else after)
        out.append(max(0, base + JITTER[(i + shift) % len(JITTER)]) if base else 0)
    return out


def _cumulative(start: int, increments: Sequence[int]) -> str:
    total, values = start, []
    for inc in increments:
        total += inc
        values.append(str(total))
    return " ".join(values)


def _split(n: int, mix: Sequence[float], buckets: int) -> list[int]:
    """``n`` observations over ``buckets`` buckets by ``mix``; the remainder in the last."""
    counts = [int(n * f) for f in mix] + [0] * (buckets - len(mix))
    counts[len(mix) - 1] += n - sum(counts)
    return counts


def _le(bound: float) -> str:
    return repr(float(bound))  # client_python writes 1.0 as "1.0", as Prometheus 2 stores it


def _histogram(name: str, labels: str, totals: Sequence[int], mixes: tuple[Sequence[float], ...],
               bounds: Sequence[float], start: int) -> list[tuple[str, str]]:
    per_bucket = [_split(n, mixes[0] if i < CHANGE else mixes[1], len(bounds) + 1)
                  for i, n in enumerate(totals)]
    series = []
    for b, bound in enumerate([*map(_le, bounds), "+Inf"]):
        incs = [sum(counts[:b + 1]) for counts in per_bucket]
        series.append((f'{name}_bucket{{{labels}, le="{bound}"}}', _cumulative(start, incs)))
    series.append((f"{name}_count{{{labels}}}", _cumulative(start, totals)))
    mids = [*bounds, 2 * bounds[-1]]
    sums = [round(sum(c * m * 0.6 for c, m in zip(counts, mids, strict=True)), 3)
            for counts in per_bucket]
    total, values = float(start), []
    for s in sums:
        total += s
        values.append(f"{total:g}")
    series.append((f"{name}_sum{{{labels}}}", " ".join(values)))
    return series


def _gauge(pattern: Sequence[int]) -> str:
    return " ".join(str(pattern[i % len(pattern)]) for i in range(STEPS))


def _metrics_series() -> tuple[tuple[str, str], ...]:
    series: list[tuple[str, str]] = []
    llama_tokens = [0] * STEPS
    for m, (model, ((ok0, ok1), (err0, err1), tokens)) in enumerate(MODELS.items()):
        ok = _per_step(ok0, ok1, shift=m)
        err = _per_step(err0, err1, first=ERRORS_FROM, shift=m + 5)
        labels = f'{GW}, model="{model}", {ENDPOINT}'
        series.append((f'llm_requests_total{{{labels}, status="success"}}',
                       _cumulative(1000 + 500 * m, ok)))
        series.append((f'llm_requests_total{{{labels}, status="error"}}',
                       _cumulative(40 + 10 * m, err)))
        totals = [a + b for a, b in zip(ok, err, strict=True)]
        series += _histogram("llm_request_duration_seconds", labels, totals,
                             DURATION_MIX[model], DURATION_LE, 1040 + 510 * m)
        series += _histogram("llm_token_latency_seconds", f'{GW}, model="{model}"', ok,
                             TTFT_MIX[model], TTFT_LE, 1000 + 500 * m)
        completion = [n * tokens + JITTER[i % len(JITTER)] * (n > 0) for i, n in enumerate(ok)]
        series.append((f'llm_tokens_generated_total{{{GW}, model="{model}"}}',
                       _cumulative(16000 + 12000 * m, completion)))
        series.append((f'llm_prompt_tokens_total{{{GW}, model="{model}"}}',
                       _cumulative(9000 + 7000 * m, [n * 9 for n in ok])))
        llama_tokens = [a + b + 7 * (i > 0) for i, (a, b)
                        in enumerate(zip(llama_tokens, completion, strict=True))]
        series.append((f'llm_active_requests{{{GW}, model="{model}"}}',
                       _gauge((0, 2, 3, 1, 4, 2, 5, 1, 0, 3)[m:] + (2,) * m)))
        if m == 0:  # errors by cause: a third are bad requests, the rest injected faults
            series.append(('llm_request_errors_total{' + GW + ', error_type="invalid_json"}',
                           _cumulative(12, [e // 3 for e in err])))
            series.append(('llm_request_errors_total{' + GW + ', error_type="injected_fault"}',
                           _cumulative(28, [e - e // 3 for e in err])))
        else:
            series.append(('llm_request_errors_total{' + GW + ', error_type="upstream_timeout"}',
                           _cumulative(500, err)))  # the largest total, not increase
    series.append((f"llm_queue_depth{{{GW}}}", _gauge((0, 0, 1, 3, 2, 0, 4, 1, 2, 0, 1))))
    series.append(('llamacpp:tokens_predicted_total{job="llama-server", '
                   'instance="llama:8080"}', _cumulative(60000, llama_tokens)))
    return tuple(series)


METRICS_FIXTURE = SeriesFixture(
    id="gateway-10m-v1", interval="15s", series=_metrics_series(),
    eval_times=("4m", "5m45s", "8m", "10m"),
    description="synthetic gateway series (two models; errors from 3m; traffic doubles and "
                "slows down at 5m)")
