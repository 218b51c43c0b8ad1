"""Errors the gateway answers with, in OpenAI's error format.

Every failure a client can cause or meet becomes an :class:`APIError` with an
HTTP status, an OpenAI error ``type``/``code`` and labkit's ``error_type``
(the ``llm_request_errors_total`` label). The app turns it into::

    {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": "..."}}
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["APIError", "bad_request", "error_body"]


class APIError(Exception):
    """A request failure with everything needed to answer and count it."""

    def __init__(self, status: int, message: str, *, error_type: str,
                 kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.kind = kind
        self.code = code or error_type
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}


def error_body(status: int, message: str) -> tuple[bytes, str]:
    """A refusal from the gateway's guard, in OpenAI's error format."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    code = {400: "invalid_host", 401: "invalid_api_key", 403: "admin_disabled",
            415: "unsupported_media_type"}.get(status, "invalid_request")
    err = APIError(status, message, error_type=code, kind=kind)
    return json.dumps(err.body()).encode(), "application/json"


def bad_request(message: str, *, error_type: str = "invalid_request",
                param: str | None = None) -> APIError:
    return APIError(400, message, error_type=error_type, param=param)


def upstream_unavailable(detail: str) -> APIError:
    return APIError(503, f"the model server is unavailable: {detail}",
                    error_type="upstream_unavailable", kind="server_error")


def upstream_timeout(seconds: float) -> APIError:
    return APIError(504, f"the model server did not answer within {seconds:g}s",
                    error_type="upstream_timeout", kind="server_error")


def upstream_error(status: int, detail: str) -> APIError:
    return APIError(502, f"the model server failed (HTTP {status}): {detail[:300]}",
                    error_type="upstream_error", kind="server_error")
