"""The service's one background worker: work kept off the caller's path, stopped by `close()`.

One thread, started on first use. Two kinds of work run on it, one job at a time:
- keyed jobs (`submit`): a job whose key is already queued is coalesced into the queued one, so
  ten executes on one account queue one refresh, and two reconnects queue one reconciliation;
  a request made while its job is running queues one more (it may have come too late for it);
- periodic jobs (`every`): due times on the same thread (the in-flight check, the working-orders
  poll, the start-up retry), never threads of their own.
Because jobs run one at a time, two background reconciliations can never overlap. Queued jobs go
before due periodic ones, and the queue is bounded (keys are accounts and a few fixed names).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Job = Callable[[], None]
MAX_QUEUED = 256
STOP_SECONDS = 30.0
"""How long `close()` waits for a running job (a broker call is bounded by its own time-out)."""


@dataclass
class _Periodic:
    every: float
    job: Job
    due: float


class Background:
    def __init__(self, name: str = "tradeexec-background", *, max_queued: int = MAX_QUEUED) -> None:
        self.name = name
        self._max_queued = max_queued
        self._cond = threading.Condition()
        self._queued: dict[str, Job] = {}
        self._periodic: dict[str, _Periodic] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self.runs: dict[str, int] = {}
        """Jobs run so far, by key (what the operator's log and the tests count)."""

    # --- what callers ask for -------------------------------------------------------------
    def submit(self, key: str, job: Job) -> bool:
        """Queue `job`; False when it was coalesced into a queued job with the same key, or refused."""
        with self._cond:
            if self._closed or key in self._queued:
                return False
            if len(self._queued) >= self._max_queued:
                log.warning("background queue full (%d jobs): %s dropped", len(self._queued), key)
                return False
            self._queued[key] = job
            self._start_locked()
            self._cond.notify()
            return True

    def every(self, key: str, seconds: float, job: Job, *, first_in: float = 0.0) -> None:
        """Run `job` every `seconds` (the first time after `first_in`) until `cancel(key)` or close()."""
        if seconds <= 0:
            raise ValueError("a periodic job needs a positive interval")
        with self._cond:
            if self._closed:
                return
            self._periodic[key] = _Periodic(seconds, job, time.monotonic() + first_in)
            self._start_locked()
            self._cond.notify()

    def cancel(self, key: str) -> None:
        """Forget a queued or periodic job (a running one finishes)."""
        with self._cond:
            self._queued.pop(key, None)
            self._periodic.pop(key, None)

    def scheduled(self, key: str) -> bool:
        with self._cond:
            return key in self._periodic or key in self._queued

    def close(self, timeout: float = STOP_SECONDS) -> None:
        """Drop what is queued, let the running job finish, and end the thread."""
        with self._cond:
            self._closed = True
            self._queued.clear()
            self._periodic.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("a background job was still running %.0f s after close()", timeout)

    @property
    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # --- the thread -----------------------------------------------------------------------
    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            picked = self._next()
            if picked is None:
                return
            key, job = picked
            try:
                job()
            except Exception:
                log.exception("background job %s failed", key)
            with self._cond:
                self.runs[key] = self.runs.get(key, 0) + 1

    def _next(self) -> tuple[str, Job] | None:
        with self._cond:
            while not self._closed:
                if self._queued:
                    key = next(iter(self._queued))
                    return key, self._queued.pop(key)
                now = time.monotonic()
                soonest = min(self._periodic.items(), key=lambda item: item[1].due, default=None)
                if soonest is not None and soonest[1].due <= now:
                    key, periodic = soonest
                    periodic.due = now + periodic.every
                    return key, periodic.job
                self._cond.wait(None if soonest is None else soonest[1].due - now)
            return None
