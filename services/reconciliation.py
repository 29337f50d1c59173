"""Step 5 of the execute protocol: settle orders whose outcome is unknown, and keep checking.

The broker is asked by client order ref. A row is declared FAILED only when the order cannot
be found after the settle window, and never while its placement may still be in flight. That
FAILED is an inference, not evidence: the row stays in a re-check set (as does a rejection that
arrived as a report) and is corrected if the broker shows the order. At most one reconciliation
runs per process, and one per account across processes (a PostgreSQL advisory lock).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from brokers.errors import ErrorCode, TradeError
from brokers.models import ACTIVE_STATUSES, FINAL_STATUSES, UNSETTLED_STATUSES, OrderStatus
from brokers.records import BrokerOrder
from brokers.user_context import acting_for
from db.engine import transaction
from db.models import TradeOrder
from services.order_store import OrderStore, utcnow
from services.order_updates import MISSING_AT_BROKER, record_report
from services.reconcile_evidence import Outcome, account_lock, lookup_for, not_found, owner_of
from services.reports import ReconcileReport
from services.routing import AdapterRouter
from services.set_reconcile import HALF_PLACED_SET, HalfPlacedSets
from settings import Settings

log = logging.getLogger(__name__)

CANCEL_PENDING: OrderStatus | None = getattr(OrderStatus, "CANCEL_PENDING", None)
IN_FLIGHT_STATUSES = UNSETTLED_STATUSES | ({CANCEL_PENDING} if CANCEL_PENDING else frozenset())
"""Checked by the fast loop: our own 'may exist' states, and a cancel not yet confirmed."""
RUN_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class ReconcilePolicy:
    settle: timedelta
    """Unsettled and not found for this long: FAILED (never less than `placement`)."""
    placement: timedelta = timedelta(seconds=15)
    """The longest a placement can be in flight (the broker timeout)."""
    recheck: timedelta = timedelta(hours=24)
    missing: timedelta = timedelta(minutes=15)

    @classmethod
    def of(cls, settings: Settings) -> ReconcilePolicy:
        return cls(
            settle=timedelta(seconds=settings.reconcile_settle_seconds),
            placement=timedelta(seconds=settings.broker_timeout_seconds),
            recheck=timedelta(hours=settings.reconcile_recheck_hours),
            missing=timedelta(seconds=settings.reconcile_missing_seconds),
        )


@dataclass(frozen=True)
class Scope:
    """Which rows one run examines."""

    active: bool = False
    suspect: bool = True
    min_age: timedelta | None = None


@dataclass
class _Tally:
    examined: int = 0
    settled: dict[str, str] = field(default_factory=dict)
    corrected: dict[str, str] = field(default_factory=dict)
    flagged: dict[str, str] = field(default_factory=dict)
    still: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    rechecked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def count(self, order_id: uuid.UUID, outcome: Outcome) -> None:
        key = str(order_id)
        if outcome.corrected:
            self.corrected[key] = outcome.corrected
        if outcome.flagged:
            self.flagged[key] = outcome.flagged
        if outcome.skipped:
            self.skipped.append(key)
        elif outcome.unchanged_final:
            self.rechecked.append(key)
        elif outcome.status in UNSETTLED_STATUSES:
            self.still.append(key)
        elif outcome.status is OrderStatus.FAILED:
            self.failed.append(key)
        else:
            self.settled[key] = outcome.status.value

    def sets(self, settled: dict[str, str]) -> None:
        """What the half-placed-set pass decided (services/set_reconcile.py): flags and legs' final statuses."""
        for key, value in settled.items():
            if key in self.still:
                self.still.remove(key)
            if value == HALF_PLACED_SET:
                self.flagged[key] = value
            elif key in self.failed or key in self.settled:
                continue  # already counted by this run's own settling
            elif value == OrderStatus.FAILED.value:
                self.failed.append(key)
            elif value not in (s.value for s in UNSETTLED_STATUSES):
                self.settled[key] = value
            else:
                self.still.append(key)

    def report(self) -> ReconcileReport:
        return ReconcileReport(
            examined=self.examined, settled=self.settled, still_unknown=self.still, failed=self.failed,
            errors=self.errors, corrected=self.corrected, flagged=self.flagged, rechecked=self.rechecked,
            skipped=self.skipped,
        )


class Reconciler:
    def __init__(self, store: OrderStore, router: AdapterRouter, policy: ReconcilePolicy | int) -> None:
        self.store = store
        self.router = router
        self.policy = policy if isinstance(policy, ReconcilePolicy) else ReconcilePolicy(timedelta(seconds=policy))
        self._run_lock = threading.Lock()
        self._in_flight: set[uuid.UUID] = set()
        self._in_flight_lock = threading.Lock()
        self.half_placed = HalfPlacedSets(store, router, self.policy.placement, self.policy.recheck)

    # --- placements in flight in this process ---------------------------------------------
    @contextmanager
    def placing(self, order_id: uuid.UUID) -> Iterator[None]:
        """While this is open, nothing in this process settles the order: its placement is in flight."""
        with self._in_flight_lock:
            self._in_flight.add(order_id)
        try:
            yield
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(order_id)

    def in_flight(self, order_id: uuid.UUID) -> bool:
        with self._in_flight_lock:
            return order_id in self._in_flight

    def in_flight_count(self) -> int:
        with self._in_flight_lock:
            return len(self._in_flight)

    def is_suspect(self, row: TradeOrder) -> bool:
        """A final status that was inferred and is still being re-checked."""
        return row.recheck_until is not None and row.recheck_until > utcnow()

    # --- runs -------------------------------------------------------------------------------
    def run(self, *, include_active: bool = False, scope: Scope | None = None, wait: bool = True) -> ReconcileReport:
        """One reconciliation; with wait=False, a run already in progress means this one is skipped."""
        scope = scope or Scope(active=include_active)
        if not self._run_lock.acquire(timeout=RUN_WAIT_SECONDS) if wait else not self._run_lock.acquire(False):
            return ReconcileReport(examined=0, settled={}, still_unknown=[], failed=[], errors=[], busy=True)
        try:
            return self._run(scope)
        finally:
            self._run_lock.release()

    def _run(self, scope: Scope) -> ReconcileReport:
        with self.store.session_factory() as session:
            rows = session.execute(
                select(TradeOrder.id, TradeOrder.account_id).where(self._selection(scope))
                .order_by(TradeOrder.updated_at)
            ).all()
        by_account: dict[str, list[uuid.UUID]] = {}
        for order_id, account_id in rows:
            by_account.setdefault(account_id, []).append(order_id)
        tally = _Tally(examined=len(rows))
        correlation = uuid.uuid4()
        for account_id, order_ids in by_account.items():
            with account_lock(self.store.session_factory, account_id, wait=False) as held:
                if not held:
                    tally.skipped.extend(str(o) for o in order_ids)  # another process is reconciling it
                    continue
                for order_id in order_ids:
                    try:
                        tally.count(order_id, self._settle(order_id, correlation))
                    except TradeError as exc:
                        tally.errors.append({"order_id": str(order_id), "error_code": exc.code.value,
                                             "message": exc.message})
                tally.sets(self.half_placed.settle_account(account_id, correlation, self.in_flight))
        return tally.report()

    def _selection(self, scope: Scope) -> ColumnElement[bool]:
        now = utcnow()
        unsettled: ColumnElement[bool] = TradeOrder.status.in_([s.value for s in IN_FLIGHT_STATUSES])
        if scope.min_age is not None:
            started = func.coalesce(TradeOrder.submitted_at, TradeOrder.created_at)
            unsettled = and_(unsettled, started <= now - scope.min_age)
        chosen = [unsettled]
        if scope.active:
            chosen.append(TradeOrder.status.in_([s.value for s in ACTIVE_STATUSES]))
        if scope.suspect:
            chosen.append(and_(TradeOrder.recheck_until.is_not(None), TradeOrder.recheck_until > now))
        return or_(*chosen)

    # --- one order --------------------------------------------------------------------------
    def settle(self, order_id: uuid.UUID, correlation: uuid.UUID) -> OrderStatus:
        """Settle one order now (a status or cancel request), waiting for its account's lock."""
        with self.store.session_factory() as session:
            row = self.store.get_order(session, order_id)
        if row is None:
            return OrderStatus.FAILED
        with account_lock(self.store.session_factory, row.account_id, wait=True) as held:
            if not held:
                raise TradeError(ErrorCode.BROKER_ERROR, "another reconciliation of this account is still running; "
                                 "ask again shortly", {"order_id": str(order_id)})
            return self._settle(order_id, correlation).status

    def _settle(self, order_id: uuid.UUID, correlation: uuid.UUID) -> Outcome:
        """Ask the broker about one order (no row lock held meanwhile), then fold the answer in under a lock."""
        with self.store.session_factory() as session:
            row = self.store.get_order(session, order_id)
            if row is None:
                return Outcome(OrderStatus.FAILED)
            status = row.status
            if self.in_flight(order_id):
                return Outcome(status, skipped=True)
            lookup = lookup_for(session, row, self.policy.placement)
            suspect = status in FINAL_STATUSES and self.is_suspect(row)
        adapter = self.router.for_provider(row.broker_provider)
        found: BrokerOrder | None
        try:
            with acting_for(row.user_email):  # the credentials of the user who placed it
                if lookup.brokerage_order_id and status not in UNSETTLED_STATUSES:
                    found = adapter.get_order(lookup.account_id, lookup.brokerage_order_id)
                else:
                    found = adapter.find_order_by_ref(lookup)
        except TradeError as exc:
            if exc.code is not ErrorCode.ORDER_NOT_FOUND:
                raise
            found = None
        with transaction(self.store.session_factory) as session:
            locked = self.store.get_order(session, order_id, lock=True)
            if locked is None:
                return Outcome(OrderStatus.FAILED)
            if found is None:
                return not_found(session, locked, lookup, correlation, self.policy, suspect=suspect)
            return self._fold(session, locked, found, correlation, suspect=suspect)

    def _fold(
        self, session: Session, row: TradeOrder, found: BrokerOrder, correlation: uuid.UUID, *, suspect: bool
    ) -> Outcome:
        owner = owner_of(session, row, found)
        if owner is not None:
            raise TradeError(
                ErrorCode.BROKER_ERROR,
                f"the broker order {found.brokerage_order_id} that matches this order already belongs to order "
                f"{owner}; it is left unsettled for a person to resolve",
                {"order_id": str(row.id), "owner_order_id": str(owner),
                 "brokerage_order_id": found.brokerage_order_id},
            )
        attention = row.attention
        changes = record_report(session, row, found, event_type="ORDER_RECONCILED", correlation=correlation,
                                recheck=self.policy.recheck)
        status = row.status
        corrected = changes.get("corrected") if changes else None
        return Outcome(
            status,
            corrected=f"{corrected['believed']}->{status.value}" if corrected else None,
            flagged=row.attention if row.attention and row.attention != attention else None,
            unchanged_final=suspect and not changes,
        )


__all__ = ["MISSING_AT_BROKER", "ReconcilePolicy", "Reconciler", "Scope"]
