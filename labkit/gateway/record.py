"""One request's outcome, recorded once into metrics, the log, the usage table and the span."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span, Status, StatusCode

from labkit.gateway.errors import APIError

if TYPE_CHECKING:
    from labkit.gateway.metrics import GatewayMetrics
    from labkit.gateway.usage import UsageRecorder

__all__ = ["RequestRecord", "new_request_id"]

log = logging.getLogger("llm-api")


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex[:16]


@dataclass
class RequestRecord:
    """Accumulates what happens to a request; :meth:`finish` reports it everywhere."""

    request_id: str
    endpoint: str
    user_id: str | None = None
    model: str = "unknown"
    stream: bool = False
    started: float = field(default_factory=time.perf_counter)
    queued_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    finish_reason: str | None = None
    prompt: str | None = None  # only kept when prompt logging is on
    span: Span | None = None
    extra_spans: list[Span] = field(default_factory=list)  # the manual server span, if any
    finished: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def end_spans(self) -> None:
        """End the request's span, then its server span (which carries the final status)."""
        if self.span is not None:
            self.span.end()
        for outer in self.extra_spans:
            outer.end()

    @property
    def trace_id(self) -> str | None:
        if self.span is None:
            return None
        ctx = self.span.get_span_context()
        return format(ctx.trace_id, "032x") if ctx.is_valid else None

    @property
    def span_id(self) -> str | None:
        if self.span is None:
            return None
        ctx = self.span.get_span_context()
        return format(ctx.span_id, "016x") if ctx.is_valid else None

    def finish(self, status: int, metrics: GatewayMetrics, usage: UsageRecorder | None,
               error: APIError | None = None, exc: BaseException | None = None) -> None:
        """Count, log, store and annotate the outcome; only the first call counts."""
        if self.finished:
            return
        self.finished = True
        duration = time.perf_counter() - self.started
        self._observe(metrics, status, duration, error)
        self._log(status, duration, error, exc)
        if usage is not None and self.model != "unknown":
            self._store(usage, status, duration)
        self._annotate_spans(status, error, exc)

    def _observe(self, metrics: GatewayMetrics, status: int, duration: float,
                 error: APIError | None) -> None:
        """Request, token, TTFT and time-per-output-token metrics."""
        ok = 200 <= status < 400
        metrics.observe_request(model=self.model, endpoint=self.endpoint, ok=ok,
                                duration_s=duration,
                                error_type=error.error_type if error else None,
                                trace_id=self.trace_id)
        if not ok:
            return
        metrics.observe_tokens(model=self.model, prompt=self.prompt_tokens,
                               completion=self.completion_tokens)
        if self.ttft_s is not None:
            metrics.observe_ttft(model=self.model, ttft_s=self.ttft_s, trace_id=self.trace_id)
            if self.completion_tokens > 1:
                tpot = (duration - self.ttft_s) / (self.completion_tokens - 1)
                metrics.observe_tpot(model=self.model, seconds_per_token=max(tpot, 0.0))

    def _log_fields(self, status: int, duration: float, error: APIError | None = None,
                   exc: BaseException | None = None) -> dict[str, Any]:
        """The fields of the request's JSON log line."""
        fields: dict[str, Any] = {
            "request_id": self.request_id, "user_id": self.user_id, "model": self.model,
            "endpoint": self.endpoint, "stream": self.stream, "status": status,
            "duration_ms": round(duration * 1000, 3), "queued_ms": round(self.queued_s * 1000, 3),
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "tokens": self.prompt_tokens + self.completion_tokens,
            "ttft_ms": None if self.ttft_s is None else round(self.ttft_s * 1000, 3),
            "finish_reason": self.finish_reason,
            "trace_id": self.trace_id, "span_id": self.span_id, **self.extra,
        }
        if self.prompt is not None:
            fields["prompt"] = self.prompt
        if error is not None:
            fields["error_type"] = error.error_type
            fields["error"] = error.message
        if exc is not None and error is None:
            fields["error_type"] = "internal_error"
        return fields

    def _log(self, status: int, duration: float, error: APIError | None,
             exc: BaseException | None) -> None:
        """One "Request completed" line: INFO when it went well, WARNING for 4xx, ERROR 5xx."""
        ok = 200 <= status < 400
        level = logging.INFO if ok else logging.WARNING if status < 500 else logging.ERROR
        log.log(level, "Request completed", extra=self._log_fields(status, duration, error, exc),
                exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None)

    def _store(self, usage: UsageRecorder, status: int, duration: float) -> None:
        """A row in the usage table, for cost tracking."""
        usage.record(request_id=self.request_id, user_id=self.user_id, model=self.model,
                     endpoint=self.endpoint, status=status,
                     prompt_tokens=self.prompt_tokens,
                     completion_tokens=self.completion_tokens,
                     total_tokens=self.prompt_tokens + self.completion_tokens,
                     duration_ms=duration * 1000)

    def _annotate_spans(self, status: int, error: APIError | None,
                        exc: BaseException | None) -> None:
        """The status on the server span, the error (event, type, status) on the request span."""
        for outer in self.extra_spans:
            outer.set_attribute("http.status_code", status)
            if status >= 500:
                outer.set_status(Status(StatusCode.ERROR))
        if self.span is None:
            return
        self.span.set_attribute("http.response.status_code", status)
        if 200 <= status < 400:
            return
        if exc is not None:
            self.span.record_exception(exc)
        elif error is not None:
            self.span.add_event("exception", {
                "exception.type": error.error_type, "exception.message": error.message})
        if error is not None:
            self.span.set_attribute("error.type", error.error_type)
        # As OpenTelemetry's HTTP conventions have it for servers: a 4xx is the
        # client's mistake, recorded (error.type, the event) but not an error span.
        if status >= 500:
            self.span.set_status(Status(StatusCode.ERROR, error.message if error else repr(exc)))
