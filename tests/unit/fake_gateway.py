"""A fake gateway over real HTTP: OpenAI-compatible chat plus the fault admin endpoints.

It answers ``/v1/chat/completions`` (streamed or not) with a controlled delay, status and
token count, and ``/admin/faults`` (GET, POST, DELETE) like the gateway; while its
``error_rate`` fault is 1 every chat request gets a 500. It records what each request
sent (``received``) and the error_rate in force at each (``seen``). The load generator
and the notebook toolkit (faults, phases) are tested against it through the
``fake_gateway`` fixture of ``tests/unit/conftest.py``.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from labkit.testing.loopback import LoopbackServer

NO_FAULTS = {"error_rate": 0.0, "latency_ms": 0.0, "upstream_timeout_s": 0.0, "hold_slots": 0}
PROMPT_TOKENS = 7


class FakeGateway(LoopbackServer):
    """The gateway's chat and fault endpoints; set ``delay``, ``status``, ``tokens`` at will."""

    def __init__(self, *, delay: float = 0.0, status: int = 200, tokens: int = 4,
                 token_delay: float = 0.0) -> None:
        self.delay, self.status, self.tokens, self.token_delay = delay, status, tokens, token_delay
        self.faults: dict[str, Any] = dict(NO_FAULTS)
        self.received: list[dict[str, Any]] = []  # body, X-User-Id and path of each chat
        self.seen: list[float] = []  # error_rate in force at each chat request
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._send(200, fake.faults)

            def do_DELETE(self) -> None:
                fake.faults = dict(NO_FAULTS)
                self._send(200, fake.faults)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/admin/faults":
                    fake.faults = {**NO_FAULTS, **body}
                    self._send(200, fake.faults)
                    return
                fake.received.append({"body": body, "user": self.headers.get("X-User-Id"),
                                      "path": self.path})
                fake.seen.append(fake.faults["error_rate"])
                time.sleep(fake.delay)
                rid = f"chatcmpl-{len(fake.received)}"
                status = 500 if fake.faults["error_rate"] >= 1 else fake.status
                if status != 200:
                    self._send(status, {"error": {"message": "model exploded",
                                                  "type": "server_error"}}, rid)
                elif body.get("stream"):
                    self._stream(rid, body)
                else:
                    self._send(200, {"id": rid, "object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "hi " * 4},
                         "finish_reason": "length"}], "usage": _usage(fake.tokens)})

            def _send(self, status: int, payload: Any, rid: str | None = None) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if rid:
                    self.send_header("x-request-id", f"req-{rid}")
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, rid: str, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("x-request-id", f"req-{rid}")
                self.end_headers()
                events = [{"id": rid, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
                events += [{"id": rid, "choices": [{"index": 0, "delta": {"content": f"t{i} "}}]}
                           for i in range(fake.tokens)]
                if body.get("stream_options", {}).get("include_usage"):
                    events.append({"id": rid, "choices": [], "usage": _usage(fake.tokens)})
                for i, event in enumerate(events):
                    if i > 1:
                        time.sleep(fake.token_delay)
                    self._chunk(f"data: {json.dumps(event)}\n\n")
                self._chunk("data: [DONE]\n\n")
                self._chunk("")

            def _chunk(self, text: str) -> None:
                raw = text.encode()
                self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _usage(tokens: int) -> dict[str, int]:
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": tokens,
            "total_tokens": PROMPT_TOKENS + tokens}
