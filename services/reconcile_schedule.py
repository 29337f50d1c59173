"""Reconciliation that runs on its own, as jobs on the service's one background worker.

- Start-up: until one reconciliation has completed (the database may be down when the
  process starts), executes are refused with TRADING_DISABLED saying why; it is retried.
- After a broker reconnect: a run is requested (two requests before it starts are one run).
- Long-running servers (MCP over HTTP, the ops API) also get an in-flight check (SUBMITTING/
  UNKNOWN/CANCEL_PENDING rows past a short threshold, every few seconds) and a working-orders
  poll at a longer interval, since SnapTrade never pushes fills. One-shot commands never start them.
Background runs take turns on the one worker thread; an explicit `reconcile()` from a caller
waits for a run in progress, and a periodic run that finds one in progress is skipped (`busy`).
The reconciler also keeps one run per account across processes (a PostgreSQL advisory lock).
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
from services.background import Background
from services.reconciliation import Scope
from services.reports import ReconcileReport

log = logging.getLogger(__name__)

STARTUP_RETRY_SECONDS = 5.0
AFTER_RECONNECT = "reconcile:after-reconnect"
START_UP_RETRY = "reconcile:start-up"
IN_FLIGHT_CHECK = "reconcile:in-flight"
WORKING_ORDERS_POLL = "reconcile:poll"


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

    @property
    def pending(self) -> bool:
        return self.required and not self.done

    def block_reason(self) -> str | None:
        with self._lock:
            if not self.required or self.done:
                return None
            return (f"{self.reason}; orders that an earlier run may have left unsettled are not known yet, so no new "
                    "order is placed until reconciliation succeeds (it is retried automatically)")


class ReconcileSchedule:
    def __init__(self, background: Background, run: Callable[..., ReconcileReport]) -> None:
        self.background = background
        self._run = run  # the service's guarded reconcile, so errors arrive as TradeErrors
        self.startup = StartupGate()
        self.looping = False
        """True once the loops were started: then the background retries the start-up, not an execute."""

    # --- what callers ask for -------------------------------------------------------------
    def run_startup(self) -> ReconcileReport:
        """Called once by a process that trades: executes wait until this (or a retry) succeeds."""
        self.startup.required = True
        return self._startup_attempt()

    def retry_startup_if_due(self) -> None:
        """Without the loops an execute retries a failed start-up, at most every few seconds."""
        gate = self.startup
        if gate.pending and time.monotonic() - gate.last_attempt >= STARTUP_RETRY_SECONDS:
            with contextlib.suppress(TradeError):  # recorded in the gate, which says why trading waits
                self._startup_attempt()

    def request_run(self) -> None:
        """After a reconnect: one reconciliation soon, on the background worker."""
        self.background.submit(AFTER_RECONNECT, self._after_reconnect)

    def start_loops(self, intervals: LoopIntervals) -> None:
        """Long-running servers only. Intervals of 0 leave that loop off."""
        self.looping = True
        if self.startup.pending:
            self.background.every(START_UP_RETRY, STARTUP_RETRY_SECONDS, self._retry_startup)
        if intervals.in_flight_every > 0:
            scope = Scope(suspect=False, min_age=timedelta(seconds=intervals.in_flight_min_age))
            self.background.every(IN_FLIGHT_CHECK, intervals.in_flight_every,
                                  lambda: self._periodic("in-flight check", scope))
        if intervals.poll_every > 0:
            self.background.every(WORKING_ORDERS_POLL, intervals.poll_every,
                                  lambda: self._periodic("working-orders poll", Scope(active=True)))

    # --- the jobs -------------------------------------------------------------------------
    def _startup_attempt(self) -> ReconcileReport:
        try:
            report = self._run(scope=Scope(active=False, suspect=True))
        except TradeError as exc:
            self.startup.record(exc)
            raise
        self.startup.record(None)
        return report

    def _retry_startup(self) -> None:
        if self.startup.pending:
            with contextlib.suppress(TradeError):
                self._startup_attempt()
        if not self.startup.pending:
            self.background.cancel(START_UP_RETRY)

    def _after_reconnect(self) -> None:
        if self.startup.pending:
            self.retry_startup_if_due()
        else:
            self._quietly("after reconnect", Scope(active=True), wait=True)

    def _periodic(self, what: str, scope: Scope) -> None:
        if self.startup.done:  # nothing else runs before the start-up reconciliation has
            self._quietly(what, scope)

    def _quietly(self, what: str, scope: Scope, *, wait: bool = False) -> None:
        try:
            report = self._run(scope=scope, wait=wait)
        except TradeError as exc:
            log.warning("reconciliation (%s) failed: %s", what, exc.message)
            return
        if report.settled or report.failed or report.corrected or report.flagged or report.errors:
            log.info("reconciliation (%s): %s", what, report.as_json())
