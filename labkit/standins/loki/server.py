"""The HTTP API of the stand-in: Loki's routes, JSON shapes and status codes (Starlette)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from labkit.standins.loki import syntax as syn
from labkit.standins.loki.bodyread import BodyTooLarge, read_capped
from labkit.standins.loki.evaluator import EvalError, Grid, Stats, evaluate, select_logs
from labkit.standins.loki.limits import (
    Deadline,
    LimitError,
    QueryLimits,
    QueryTimeout,
    check_limit,
    check_range,
    check_series,
)
from labkit.standins.loki.params import (
    ParamError,
    now_ns,
    parse_direction,
    parse_limit,
    parse_since,
    parse_step,
    parse_time,
)
from labkit.standins.loki.parser import LogQLParseError, parse
from labkit.standins.loki.push import decode_push
from labkit.standins.loki.store import PushError, Store, StoreWriteError
from labkit.standins.loki.units import format_value
from labkit.standins.loki.vectors import Scalar, Series

VERSION = "3.4.0-labkit-standin"
_HOUR = 3600 * 10**9
_BAD_REQUEST = (LogQLParseError, EvalError, ParamError, PushError, LimitError)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    pairs = list(request.query_params.multi_items())
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        pairs += parse_qsl((await request.body()).decode(), keep_blank_values=True)
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def _one(p: dict[str, list[str]], name: str) -> str | None:
    return p[name][-1] if name in p else None


def _stats(stats: Stats, elapsed: float) -> dict[str, Any]:
    per_s = (lambda x: int(x / elapsed)) if elapsed > 0 else (lambda x: 0)
    return {
        "summary": {
            "bytesProcessedPerSecond": per_s(stats.bytes),
            "linesProcessedPerSecond": per_s(stats.lines),
            "totalBytesProcessed": stats.bytes,
            "totalLinesProcessed": stats.lines,
            "execTime": elapsed,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": stats.entries_returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": stats.entries_returned,
            "totalStructuredMetadataBytesProcessed": 0,
        },
        "querier": {"store": {"totalChunksRef": 0, "totalChunksDownloaded": 0}},
        "ingester": {
            "totalReached": 1,
            "totalChunksMatched": 0,
            "totalBatches": 0,
            "totalLinesSent": stats.lines,
        },
        "cache": {},
    }


def _labels(key: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(key)


def _ts(t_ns: int) -> float | int:
    ms = t_ns // 10**6  # Loki writes sample times as seconds with millisecond precision
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _matrix(result: Series | Scalar, steps: np.ndarray) -> list[dict[str, Any]]:
    if isinstance(result, Scalar):
        result = {(): result.values}
    times = [_ts(int(t)) for t in steps.tolist()]
    out = []
    for key in sorted(result):
        vals = result[key]
        points = [[times[i], format_value(v)] for i, v in enumerate(vals.tolist()) if v == v]
        if points:
            out.append({"metric": _labels(key), "values": points})
    return out


class LokiAPI:
    """Route handlers bound to one Store."""

    def __init__(self, store: Store, limits: QueryLimits | None = None) -> None:
        self.store = store
        self.limits = limits or QueryLimits()

    def _stats(self) -> Stats:
        return Stats(deadline=Deadline(self.limits.timeout_s))

    def routes(self) -> list[Route]:
        both = ["GET", "POST"]
        return [
            Route("/ready", self.ready, methods=["GET"]),
            Route("/loki/api/v1/push", self.push, methods=["POST"]),
            Route("/loki/api/v1/query", self.query, methods=both),
            Route("/loki/api/v1/query_range", self.query_range, methods=both),
            Route("/loki/api/v1/labels", self.labels, methods=both),
            Route("/loki/api/v1/label", self.labels, methods=both),
            Route("/loki/api/v1/label/{name}/values", self.label_values, methods=both),
            Route("/loki/api/v1/series", self.series, methods=both),
            Route("/loki/api/v1/status/buildinfo", self.buildinfo, methods=["GET"]),
        ]

    async def _guard(self, fn: Callable[[], Response]) -> Response:
        try:
            return await run_in_threadpool(fn)
        except _BAD_REQUEST as exc:
            return PlainTextResponse(str(exc), status_code=400)
        except QueryTimeout as exc:
            return PlainTextResponse(str(exc), status_code=504)
        except StoreWriteError as exc:
            return PlainTextResponse(str(exc.strerror or exc), status_code=503)
        except RecursionError:
            return PlainTextResponse("query nests too deeply", status_code=400)
        except (ValueError, ArithmeticError) as exc:  # a value out of any sensible range
            return PlainTextResponse(f"invalid request: {exc}", status_code=400)

    async def ready(self, request: Request) -> Response:
        return PlainTextResponse("ready")

    async def buildinfo(self, request: Request) -> Response:
        return _json(
            {
                "version": VERSION,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            }
        )

    async def push(self, request: Request) -> Response:
        try:
            body = await read_capped(request.stream(), request.headers.get("content-length"))
        except BodyTooLarge as exc:
            return PlainTextResponse(str(exc), status_code=413)
        ctype = request.headers.get("content-type", "application/x-protobuf")
        cenc = request.headers.get("content-encoding", "")

        def run() -> Response:
            try:
                streams = decode_push(body, ctype, cenc)
            except BodyTooLarge as exc:
                return PlainTextResponse(str(exc), status_code=413)
            self.store.push(streams)
            return Response(status_code=204)

        return await self._guard(run)

    async def query(self, request: Request) -> Response:
        p = await _params(request)

        def run() -> Response:
            started = time.perf_counter()
            q = parse(_required(p, "query"))
            t = parse_time(_one(p, "time"), now_ns(), "time")
            check_limit(parse_limit(_one(p, "limit"), 100), self.limits)
            parse_direction(_one(p, "direction"))
            if isinstance(q, syn.LogQuery):
                raise EvalError(
                    "log queries are not supported as an instant query type, "
                    "please change your query to a range query type"
                )
            stats = self._stats()
            result = evaluate(self.store, q, Grid.instant(t), stats)
            if isinstance(result, dict):
                check_series(len(result), self.limits)
            if isinstance(result, Scalar):
                data: dict[str, Any] = {
                    "resultType": "scalar",
                    "result": [_ts(t), format_value(float(result.values[0]))],
                }
            else:
                vec = [
                    {"metric": _labels(k), "value": [_ts(t), format_value(float(v[0]))]}
                    for k, v in sorted(result.items())
                    if v[0] == v[0]
                ]
                data = {"resultType": "vector", "result": vec}
            data["stats"] = _stats(stats, time.perf_counter() - started)
            return _json({"status": "success", "data": data})

        return await self._guard(run)

    async def query_range(self, request: Request) -> Response:
        p = await _params(request)

        def run() -> Response:
            started = time.perf_counter()
            q = parse(_required(p, "query"))
            end = parse_time(_one(p, "end"), now_ns(), "end")
            start = parse_time(
                _one(p, "start"), end - parse_since(_one(p, "since"), _HOUR), "start"
            )
            if end < start:
                raise ParamError("end timestamp must not be before or equal to start time")
            limit = parse_limit(_one(p, "limit"), 100)
            check_limit(limit, self.limits)
            check_range(start, end, self.limits)
            forward = parse_direction(_one(p, "direction"))
            stats = self._stats()
            if isinstance(q, syn.LogQuery):
                streams = select_logs(self.store, q, start, end, limit, forward, stats)
                result = [
                    {"stream": _labels(k), "values": [[str(t), line] for t, line in vals]}
                    for k, vals in streams
                ]
                data: dict[str, Any] = {"resultType": "streams", "result": result}
            else:
                if _uses_approx_topk(q):
                    raise EvalError("count min sketches are only supported on instant queries")
                step = parse_step(_one(p, "step"), start, end)
                # Loki aligns metric range queries to the step grid (multiples of step
                # since the epoch).
                a_start, a_end = start - start % step, end - end % step
                grid = Grid.range(a_start, a_end, step)
                series = evaluate(self.store, q, grid, stats)
                if isinstance(series, dict):
                    check_series(len(series), self.limits)
                data = {"resultType": "matrix", "result": _matrix(series, grid.steps)}
            data["stats"] = _stats(stats, time.perf_counter() - started)
            return _json({"status": "success", "data": data})

        return await self._guard(run)

    def _streams_in(self, p: dict[str, list[str]]) -> list[Any]:
        end = parse_time(_one(p, "end"), now_ns(), "end")
        start = parse_time(
            _one(p, "start"), end - parse_since(_one(p, "since"), 6 * _HOUR), "start"
        )
        check_range(start, end, self.limits)
        return self.store.active(start, end)

    async def labels(self, request: Request) -> Response:
        p = await _params(request)

        def run() -> Response:
            names = sorted({k for s in self._streams_in(p) for k in s.labels})
            return _json({"status": "success", "data": names})

        return await self._guard(run)

    async def label_values(self, request: Request) -> Response:
        p = await _params(request)
        name = request.path_params["name"]

        def run() -> Response:
            streams = self._streams_in(p)
            if "query" in p:
                q = parse(_one(p, "query") or "")
                sel = q.selector if isinstance(q, syn.LogQuery) else ()
                streams = [
                    s for s in streams if all(m.matches(s.labels.get(m.name, "")) for m in sel)
                ]
            values = sorted({s.labels[name] for s in streams if name in s.labels})
            return _json({"status": "success", "data": values})

        return await self._guard(run)

    async def series(self, request: Request) -> Response:
        p = await _params(request)

        def run() -> Response:
            selectors = p.get("match[]") or p.get("match") or []
            if not selectors:
                raise ParamError('0 matchers provided: use match[]={label="value"}')
            parsed = []
            for text in selectors:
                q = parse(text)
                if not isinstance(q, syn.LogQuery):
                    raise ParamError(f"match[] must be a stream selector, got {text!r}")
                parsed.append(q.selector)
            streams = self._streams_in(p)
            data = [
                s.labels
                for s in streams
                if any(all(m.matches(s.labels.get(m.name, "")) for m in sel) for sel in parsed)
            ]
            return _json(
                {"status": "success", "data": sorted(data, key=lambda d: sorted(d.items()))}
            )

        return await self._guard(run)


def _uses_approx_topk(e: Any) -> bool:
    if isinstance(e, syn.VectorAgg):
        return e.op == "approx_topk" or _uses_approx_topk(e.expr)
    if isinstance(e, syn.BinOp):
        return _uses_approx_topk(e.lhs) or _uses_approx_topk(e.rhs)
    if isinstance(e, syn.LabelReplace):
        return _uses_approx_topk(e.expr)
    return False


def _required(p: dict[str, list[str]], name: str) -> str:
    v = _one(p, name)
    if not v:
        raise ParamError(f"missing required parameter '{name}'")
    return v
