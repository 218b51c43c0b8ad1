"""The shipper: tail log files and push them to Loki, at least once, in order."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from labkit.shipper.entries import Entry, make_entry, parse_labels, push_payload
from labkit.shipper.positions import FileState, load_positions, save_positions
from labkit.shipper.push import LokiPusher, PushResult, backoff_delay
from labkit.shipper.tailer import Tailer

__all__ = ["Shipper"]

log = logging.getLogger("labkit.shipper")


class Shipper:
    """Tail files matching ``path`` (a glob) and push their lines to Loki.

    Positions are saved only after Loki accepted a batch, so a crash or restart
    re-sends at most the last batch (Loki drops identical entries) and never
    skips a line. While Loki is down the shipper retries with capped, jittered
    exponential backoff and reads nothing new; it catches up once Loki answers.

    >>> with Shipper("run/logs/gateway.log*", "http://127.0.0.1:3100",
    ...              positions="run/shipper/positions.json") as shipper:  # doctest: +SKIP
    ...     ...  # lines appended to run/logs/gateway.log reach Loki within batch_wait
    """

    def __init__(
        self,
        path: str,
        loki_url: str,
        *,
        positions: str | Path,
        labels: Mapping[str, str] | None = None,
        batch_size: int = 1000,
        batch_wait: float = 1.0,
        poll_interval: float = 0.25,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if batch_wait < 0 or poll_interval <= 0 or min_backoff <= 0 or max_backoff < min_backoff:
            raise ValueError("batch_wait must be >= 0, poll_interval and min_backoff > 0, "
                             "and max_backoff >= min_backoff")
        self.path = path
        self.positions = Path(positions)
        self.labels = dict(labels) if labels is not None else {"job": "llm-api"}
        parse_labels(f"{k}={v}" for k, v in self.labels.items())  # same checks as --label
        self.batch_size, self.batch_wait, self.poll_interval = batch_size, batch_wait, poll_interval
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self._pusher = LokiPusher(loki_url, timeout=timeout, transport=transport)
        self.loki_url = self._pusher.url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tailer: Tailer | None = None
        self.shipped = 0  # lines Loki accepted
        self.dropped = 0  # lines Loki refused for good (4xx)
        self.error: BaseException | None = None  # what stopped the worker, if it crashed

    def start(self) -> Shipper:
        """Load the positions and start the worker thread."""
        if self._thread is not None:
            raise RuntimeError("this Shipper was already started; make a new one")
        self._tailer = Tailer(self.path, load_positions(self.positions))
        self._thread = threading.Thread(target=self._run, name="labkit-shipper", daemon=True)
        self._thread.start()
        log.info("started: tailing %s into %s (positions in %s, labels %s)",
                 self.path, self.loki_url, self.positions, self.labels)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ship what is ready (one try), save positions and stop; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._pusher.close()  # never started: the worker will not close it

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Shipper:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        assert self._tailer is not None
        entries: list[Entry] = []
        first_at = 0.0
        read_failures = 0
        try:
            while not self._stop.is_set():
                try:
                    lines = self._tailer.poll(self.batch_size - len(entries))
                    read_failures = 0
                except OSError as exc:  # an unreadable or vanished file, a disk error
                    delay = backoff_delay(read_failures, base=self.min_backoff,
                                          cap=self.max_backoff)
                    log.error("cannot read %s (%s); retrying in %.1fs", self.path, exc, delay)
                    read_failures += 1
                    self._stop.wait(delay)
                    continue
                if lines and not entries:
                    first_at = time.monotonic()
                now_ns = time.time_ns()
                entries.extend(make_entry(ln.text, self.labels, now_ns) for ln in lines)
                waited = time.monotonic() - first_at
                if entries and (len(entries) >= self.batch_size or waited >= self.batch_wait):
                    if self._send(entries, self._tailer.snapshot(), final=False):
                        entries = []
                elif not lines:
                    left = self.batch_wait - waited if entries else self.poll_interval
                    self._stop.wait(max(0.01, min(self.poll_interval, left)))
            self._flush(entries)
        except BaseException as exc:  # the thread must say why it died
            self.error = exc
            log.exception("shipper stopped on an unexpected error")
        finally:
            self._tailer.close()
            self._pusher.close()
            log.info("stopped: %d lines shipped, %d dropped", self.shipped, self.dropped)

    def _flush(self, entries: list[Entry]) -> None:
        """At stop: ship every complete line already written, one try per batch."""
        assert self._tailer is not None
        while True:
            lines = self._tailer.poll(self.batch_size - len(entries))
            now_ns = time.time_ns()
            entries.extend(make_entry(ln.text, self.labels, now_ns) for ln in lines)
            if not entries or not self._send(entries, self._tailer.snapshot(), final=True):
                return
            entries = []

    def _send(self, entries: list[Entry], snapshot: dict[str, FileState], *, final: bool) -> bool:
        """Deliver one batch, then save positions; False if stopped first."""
        if not self._deliver(entries, final=final):
            return False
        return self._save(snapshot, final=final)

    def _deliver(self, entries: list[Entry], *, final: bool) -> bool:
        """Push until Loki takes or refuses each line; False if stopped first.

        A refused batch is never dropped whole for one bad line: when Loki says it kept
        the rest (``total ignored: K out of N``) only the K are counted dropped; when it
        refused all of it, the batch is split in halves and each half sent again, down
        to single lines (lines Loki already stored are dropped by it as duplicates).
        """
        payload = push_payload(entries)
        attempt = 0
        while True:
            result = self._pusher.push(payload)
            if result.accepted:
                self.shipped += len(entries)
                back = f" (Loki answered again after {attempt} retries)" if attempt else ""
                log.info("pushed %d lines in %d streams%s",
                         len(entries), len(payload["streams"]), back)
                return True
            if not result.retry:
                return self._refused(entries, result, final=final)
            why = f"HTTP {result.status}" if result.status else result.message
            if final:
                log.warning("Loki unreachable at stop (%s); %d lines will be shipped at the "
                            "next start", why, len(entries))
                return False
            delay = backoff_delay(attempt, base=self.min_backoff, cap=self.max_backoff)
            if result.retry_after is not None:
                delay = min(self.max_backoff, max(delay, result.retry_after))
            log.warning("Loki unreachable at %s (%s); retrying %d lines in %.1fs",
                        self.loki_url, why, len(entries), delay)
            attempt += 1
            if self._stop.wait(delay):
                return False

    def _refused(self, entries: list[Entry], result: PushResult, *, final: bool) -> bool:
        ignored = result.ignored
        if ignored is not None and ignored[0] < ignored[1]:
            kept = len(entries) - ignored[0]
            self.shipped += kept
            self.dropped += ignored[0]
            log.warning("Loki stored %d of %d lines and refused %d: %s",
                        kept, len(entries), ignored[0], result.message)
            return True
        if result.stale:
            log.warning("Loki refused some of %d lines as older than their stream "
                        "accepts and stored the rest; moving on: %s",
                        len(entries), result.message)
            return True
        if len(entries) > 1:
            half = len(entries) // 2
            log.warning("Loki refused a batch of %d lines with HTTP %s (%s); sending it again "
                        "in halves to find the bad lines", len(entries), result.status,
                        result.message[:200])
            return (self._deliver(entries[:half], final=final)
                    and self._deliver(entries[half:], final=final))
        log.error("Loki refused a batch of 1 lines with HTTP %s: %s; dropping it (the line "
                  "stays in the log files): %.300s", result.status, result.message,
                  entries[0].line)
        self.dropped += 1
        return True

    def _save(self, snapshot: dict[str, FileState], *, final: bool) -> bool:
        """Save positions, retrying disk errors (a full disk) with backoff until stopped."""
        attempt = 0
        while True:
            try:
                save_positions(self.positions, snapshot)
                if attempt:
                    log.info("positions saved again after %d failed tries", attempt)
                return True
            except OSError as exc:
                delay = backoff_delay(attempt, base=self.min_backoff, cap=self.max_backoff)
                log.error("cannot save positions to %s (%s); retrying in %.1fs (the lines "
                          "are shipped; a restart now would send them again)",
                          self.positions, exc, delay)
                attempt += 1
                if final or self._stop.wait(delay):
                    return False
