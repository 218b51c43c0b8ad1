"""Run a learner's incident: background traffic, the fault in its window, and the record.

Only one incident runs at a time in a lab (a file lock): the faults are the gateway's, so
two runs at once (a class graded in parallel) would mix their incidents.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import time
from collections.abc import Iterator
from typing import Any

from tqdm.auto import tqdm

from labkit import faults
from labkit.incident.plan import Plan, plan_incident
from labkit.incident.record import IncidentRecord, Truth, incidents_dir
from labkit.incident.traffic import send_all
from labkit.runtime.model import SPECIAL_TOKENS

__all__ = ["reset_all_faults", "run_incident"]

SETTLE_S = 6.0  # after the last request: two scrapes, span export, log shipping


def _no_end_of_turn(lab: Any) -> dict[str, float]:
    """A ``logit_bias`` that keeps the lab's model from ending its turn early.

    The gateway refuses llama.cpp's ``ignore_eos`` (it would escape the token budget); an
    OpenAI ``logit_bias`` on the special tokens does the same within the rules. Their ids
    come from the served GGUF; an empty dict (no bias) where it cannot be read.
    """
    try:
        import gguf

        from labkit.runtime.state import LabState

        state = LabState.load(lab.config.state_file)
        field = gguf.GGUFReader(state.model).fields["tokenizer.ggml.tokens"]  # type: ignore[union-attr,arg-type]
        tokens = [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]
    except Exception:  # a remote lab, or a model file of another shape: generate as it comes
        return {}
    return {str(tokens.index(t)): -100.0 for t in SPECIAL_TOKENS if t in tokens}


def reset_all_faults(gateway_url: str) -> None:
    """Clear the gateway's faults and the model server's."""
    faults.reset(gateway_url=gateway_url)
    faults.reset_upstream(gateway_url=gateway_url)


@contextlib.contextmanager
def _one_at_a_time(lab: Any) -> Iterator[None]:
    folder = incidents_dir(lab.config)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _apply(plan: Plan, gateway_url: str) -> None:
    if "upstream" in plan.fault:
        faults.inject_upstream(gateway_url=gateway_url, **plan.fault["upstream"])
    if "gateway" in plan.fault:
        faults.inject(gateway_url=gateway_url, **plan.fault["gateway"])


async def _run(plan: Plan, gateway_url: str, bar: Any) -> tuple[list[dict[str, Any]], float,
                                                                float, float]:
    loop = asyncio.get_running_loop()
    t0 = time.time()
    traffic = asyncio.ensure_future(send_all(gateway_url, plan.requests,
                                             on_done=lambda: bar.update(1)))
    start = end = t0
    try:
        if plan.fault:
            await asyncio.sleep(max(0.0, t0 + plan.start_s - time.time()))
            await loop.run_in_executor(None, _apply, plan, gateway_url)
            start = time.time()
            await asyncio.sleep(max(0.0, t0 + plan.end_s - time.time()))
            await loop.run_in_executor(None, reset_all_faults, gateway_url)
            end = time.time()
        else:  # traffic-made incidents: the window is the culprit's first to last request
            start, end = t0 + plan.start_s, t0 + plan.end_s
        results = await traffic
    finally:
        if not traffic.done():
            traffic.cancel()
        await loop.run_in_executor(None, reset_all_faults, gateway_url)
    return results, t0, start, end


def run_incident(seed: int, lab: Any = None, *, progress: bool = True) -> IncidentRecord:
    """Inject learner ``seed``'s incident into the running lab, and record what was done.

    Blocks for the whole run (about a minute and a half), then waits for the signals to
    land. Returns the record: the run's window, and what was injected, sealed.
    """
    if lab is None:
        from labkit.lab import connect

        lab = connect()
    plan = plan_incident(seed)
    if plan.category == "cost_spike":
        bias = _no_end_of_turn(lab)
        if bias:
            plan = dataclasses.replace(plan, requests=tuple(
                dataclasses.replace(r, extra={**r.extra, "logit_bias": bias}) if r.incident else r
                for r in plan.requests))
    with _one_at_a_time(lab):
        reset_all_faults(lab.gateway_url)
        bar = tqdm(total=len(plan.requests), desc=f"incident run (seed {seed})", unit="req",
                   disable=not progress)
        try:
            # Jupyter runs an event loop in this thread already: run ours in a fresh one.
            with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="incident") as pool:
                results, t0, start, end = pool.submit(
                    lambda: asyncio.run(_run(plan, lab.gateway_url, bar))).result()
        finally:
            bar.close()
        if not plan.fault:
            sent = [r["sent"] for r in results if r["incident"]]
            start, end = min(sent), max(sent)
        t1 = max(r["sent"] + r["seconds"] for r in results)
        time.sleep(SETTLE_S)
        truth = Truth(category=plan.category, model=plan.model, user=plan.user, start=start,
                      end=end)
        record = IncidentRecord.seal(
            seed=plan.seed, truth=truth, t0=t0, t1=t1, requests=len(results),
            trace_ids=[r["trace_id"] for r in results if r["status"]])
        record.save(lab.config)
    return record
