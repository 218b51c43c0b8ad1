"""Helpers for testing code that uses labkit, and for labkit's own tests.

* :func:`free_port`: a loopback port nothing listens on;
* :func:`run_service`: start a server process (``labkit.runtime.process``), wait for its
  health URL, stop it (and everything it spawned) on exit;
* :func:`poll_until`: wait for what a test expects instead of sleeping a fixed time;
* :class:`FakeLlamaServer`: llama-server's HTTP surface, to test the gateway without llama.cpp;
* :class:`LoopbackServer`: the threaded loopback HTTP server such fakes are built on.

>>> port = free_port()                                                   # doctest: +SKIP
>>> argv = [sys.executable, "-m", "labkit.standins.loki", "--port", str(port)]
>>> with run_service("loki", argv, log_path=tmp / "loki.log",
...                  health_url=f"http://127.0.0.1:{port}/ready"):         # doctest: +SKIP
...     ...
"""

from __future__ import annotations

from labkit.testing.fake_llama import FakeLlamaServer
from labkit.testing.loopback import LoopbackServer
from labkit.testing.services import free_port, poll_until, run_service, start_service

__all__ = ["FakeLlamaServer", "LoopbackServer", "free_port", "poll_until", "run_service",
           "start_service"]
