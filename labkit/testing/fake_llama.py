"""A small OpenAI-compatible stand-in for llama-server, for tests.

:class:`FakeLlamaServer` is a real HTTP server on a free loopback port that answers
``/health``, ``/tokenize``, ``/metrics`` and ``/v1/chat/completions`` (plain and SSE) the
way llama-server does, with a controllable delay and failure mode. It lets the gateway
be tested without building llama.cpp.

    >>> with FakeLlamaServer(delay_s=0.01) as fake:          # doctest: +SKIP
    ...     app = create_app(GatewaySettings(upstream=fake.url))
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from labkit.testing.loopback import LoopbackServer

__all__ = ["FakeLlamaServer"]


class FakeLlamaServer(LoopbackServer):
    """llama-server's HTTP surface, enough for the gateway: one word per token."""

    def __init__(self, *, delay_s: float = 0.0, fail_status: int | None = None) -> None:
        self.delay_s = delay_s
        self.fail_status = fail_status
        self.requests: list[dict[str, Any]] = []
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._json(200, {"status": "ok"})
                elif self.path == "/metrics":
                    body = b"llamacpp:requests_processing 0\n"
                    self.send_response(200)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/tokenize":
                    words = str(body.get("content", "")).split()
                    self._json(200, {"tokens": list(range(len(words)))})
                    return
                fake.requests.append(body)
                if fake.fail_status:
                    self._json(fake.fail_status, {"error": {"message": "fake failure"}})
                    return
                time.sleep(fake.delay_s)
                n = int(body.get("max_tokens") or 16)
                prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
                usage = {"prompt_tokens": prompt, "completion_tokens": n,
                         "total_tokens": prompt + n}
                if not body.get("stream"):
                    self._json(200, {
                        "id": "chatcmpl-fake", "object": "chat.completion", "model": "fake",
                        "choices": [{"index": 0, "finish_reason": "length",
                                     "message": {"role": "assistant",
                                                 "content": " ".join(["word"] * n)}}],
                        "usage": usage})
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()

                def send(event: Any) -> None:
                    payload = event if isinstance(event, str) else json.dumps(event)
                    self.wfile.write(f"data: {payload}\n\n".encode())
                    self.wfile.flush()

                chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                         "model": "fake"}
                for _ in range(n):
                    send({**chunk, "choices": [{"index": 0, "finish_reason": None,
                                                "delta": {"content": "word "}}]})
                send({**chunk, "choices": [{"index": 0, "finish_reason": "length",
                                            "delta": {}}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    send({**chunk, "choices": [], "usage": usage})
                send("[DONE]")
                self.close_connection = True

        return Handler
