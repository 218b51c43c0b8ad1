"""What every labkit HTTP server shares: capped bodies, strict JSON, loopback guards.

The gateway, the Jaeger stand-in and the notification sink read request bodies
through :func:`read_body` (a byte cap counted on the stream, never trusting
``Content-Length``), decompress through :func:`decompress` (an output cap),
parse JSON through :func:`parse_json` (depth and number range checked, never a
500), and sit behind :class:`LoopbackGuard` (Host header, Content-Type of
state-changing requests, optional admin token).
"""

from __future__ import annotations

from labkit.serving.bodies import (
    BadBody,
    BodyTooLarge,
    decompress,
    parse_json,
    read_body,
)
from labkit.serving.guard import LoopbackGuard, allowed_hosts, is_loopback

__all__ = [
    "BadBody",
    "BodyTooLarge",
    "LoopbackGuard",
    "allowed_hosts",
    "decompress",
    "is_loopback",
    "parse_json",
    "read_body",
]
