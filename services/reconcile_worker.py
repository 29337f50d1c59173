"""Reconciliation that runs on its own: one long-lived worker thread per service.

- Start-up: until one reconciliation has completed (the database may be down when the
  process starts), executes are refused with TRADING_DISABLED saying why; the worker retries.
- After a broker reconnect: a run is requested, not a thread spawned.
- Long-running servers (MCP over HTTP, the ops API) also get an in-flight loop (SUBMITTING/
  UNKNOWN/CANCEL_PENDING rows past a short threshold, every few seconds) and a working-orders
  poll at a longer interval, since SnapTrade never pushes fills. One-shot commands never start them.
The reconciler itself guarantees one run at a time per process and one per account across processes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from brokers.errors import TradeError
from services.reconciliation import Reconciler, Scope
from services.reports import ReconcileReport

log = logging.getLogger(__name__)

STARTUP_RETRY_SECONDS = 5.0
IDLE_SECONDS = 60.0


@dataclass(frozen=True)
class LoopIntervals:
    in_flight_every: float
    in_flight_min_age: float
    poll_every: float


class StartupGate:
    """Trading waits for the first completed reconciliation once a process declares it must."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.required = False
        self.done = False
        self.reason = "start-up reconciliation has not completed yet"
        self.last_attempt = float("-inf")

    def record(self, error: TradeError | None) -> None:
        with self._lock:
            self.last_attempt = time.monotonic()
            if error is None:
                self.done = True
            else:
                self.reason = f"start-up reconciliation has not completed ({error.message})"

    def block_reason(self) -> str | None:
        with self._lock:
            if not self.required or self.done:
                return None
            return (f"{self.reason}; orders that an earlier run may have left unsettled are not known yet, so no new "
                    "order is placed until reconciliation succeeds (it is retried automatically)")


class ReconcileWorker:
    def __init__(self, reconciler: Reconciler, run: Callable[..., ReconcileReport]) -> None:
        self.reconciler = reconciler
        self._run = run  # the service's guarded reconcile, so errors arrive as TradeErrors
        self.startup = StartupGate()
        self._intervals: LoopIntervals | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._requested = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- what callers ask for -------------------------------------------------------------
    def run_startup(self) -> ReconcileReport:
        """Called once by a process that trades: executes wait until this (or a retry) succeeds."""
        self.startup.required = True
        return self._startup_attempt()

    def retry_startup_if_due(self) -> None:
        """For processes without the loops: an execute retries a failed start-up, at most every few seconds."""
        gate = self.startup
        if gate.required and not gate.done and time.monotonic() - gate.last_attempt >= STARTUP_RETRY_SECONDS:
            with contextlib.suppress(TradeError):  # recorded in the gate, which says why trading waits
                self._startup_attempt()

    def request_run(self) -> None:
        """After a reconnect: one reconciliation soon, on the worker thread."""
        with self._lock:
            self._requested = True
        self._ensure_thread()
        self._wake.set()

    def start_loops(self, intervals: LoopIntervals) -> None:
        """Long-running servers only. Intervals of 0 leave that loop off."""
        self._intervals = intervals
        if intervals.in_flight_every > 0 or intervals.poll_every > 0 or not self.startup.done:
            self._ensure_thread()
            self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- the thread -----------------------------------------------------------------------
    def _startup_attempt(self) -> ReconcileReport:
        try:
            report = self._run(scope=Scope(active=False, suspect=True))
        except TradeError as exc:
            self.startup.record(exc)
            raise
        self.startup.record(None)
        return report

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._stopping.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._loop, name="tradeexec-reconcile", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        next_in_flight = next_poll = time.monotonic()
        while not self._stopping.is_set():
            now = time.monotonic()
            intervals = self._intervals
            with self._lock:
                requested, self._requested = self._requested, False
            if self.startup.required and not self.startup.done:
                self.retry_startup_if_due()
            elif requested:
                self._quietly("after reconnect", Scope(active=True), wait=True)
            if intervals is not None and self.startup.done:
                if intervals.in_flight_every > 0 and now >= next_in_flight:
                    next_in_flight = now + intervals.in_flight_every
                    self._quietly("in-flight check", Scope(suspect=False,
                                  min_age=timedelta(seconds=intervals.in_flight_min_age)))
                if intervals.poll_every > 0 and now >= next_poll:
                    next_poll = now + intervals.poll_every
                    self._quietly("working-orders poll", Scope(active=True))
            self._wake.wait(self._sleep(intervals, next_in_flight, next_poll))
            self._wake.clear()

    def _sleep(self, intervals: LoopIntervals | None, next_in_flight: float, next_poll: float) -> float:
        if self.startup.required and not self.startup.done:
            return STARTUP_RETRY_SECONDS
        deadlines = []
        if intervals is not None and intervals.in_flight_every > 0:
            deadlines.append(next_in_flight)
        if intervals is not None and intervals.poll_every > 0:
            deadlines.append(next_poll)
        if not deadlines:
            return IDLE_SECONDS  # only requests wake it (after a reconnect)
        return max(0.05, min(deadlines) - time.monotonic())

    def _quietly(self, what: str, scope: Scope, *, wait: bool = False) -> None:
        try:
            report = self._run(scope=scope, wait=wait)
        except TradeError as exc:
            log.warning("reconciliation (%s) failed: %s", what, exc.message)
            return
        except Exception:
            log.exception("reconciliation (%s) failed", what)
            return
        if report.settled or report.failed or report.corrected or report.flagged or report.errors:
            log.info("reconciliation (%s): %s", what, report.as_json())
