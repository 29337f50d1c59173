"""Reading and canceling orders: stored state, refreshed from the broker when it may have moved."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session

from brokers.errors import ErrorCode, TradeError
from brokers.models import ACTIVE_STATUSES, FINAL_STATUSES, UNSETTLED_STATUSES, OrderStatus
from db.engine import transaction
from db.models import TradeOrder, TradePreview
from services.order_store import OrderStore, apply_broker_order, new_event
from services.reconciliation import Reconciler
from services.results import OrderView
from services.routing import AdapterRouter
from telemetry.correlation import current_correlation

log = logging.getLogger(__name__)

STATE_FILTERS: dict[str, frozenset[OrderStatus] | None] = {
    "all": None,
    "open": ACTIVE_STATUSES | UNSETTLED_STATUSES,
    "executed": frozenset({OrderStatus.EXECUTED}),
}


def parse_order_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise TradeError(ErrorCode.ORDER_NOT_FOUND, "order_id is not a valid order id",
                         {"order_id": str(value)[:80]}) from None


class OrderQueries:
    def __init__(self, store: OrderStore, router: AdapterRouter, reconciler: Reconciler) -> None:
        self.store = store
        self.router = router
        self.reconciler = reconciler

    def view(self, session: Session, row: TradeOrder, *, stale: bool = False) -> OrderView:
        return OrderView.of(row, session.get(TradePreview, row.preview_id), stale=stale)

    def list(self, account_id: Any, state: Any, days: Any) -> list[OrderView]:
        if state not in STATE_FILTERS:
            raise TradeError(ErrorCode.VALIDATION_ERROR, "state must be one of all, open, executed",
                             {"state": str(state)[:40]})
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
            raise TradeError(ErrorCode.VALIDATION_ERROR, "days must be a whole number from 1 to 3650")
        if account_id is not None and (not isinstance(account_id, str) or not 0 < len(account_id) <= 64):
            raise TradeError(ErrorCode.VALIDATION_ERROR, "account_id must be a string of 1 to 64 characters")
        with self.store.session_factory() as session:
            rows = self.store.list_orders(session, account_id, STATE_FILTERS[state], days)
            return [OrderView.of(order, preview) for order, preview in rows]

    def status(self, raw_order_id: Any) -> OrderView:
        order_id = parse_order_id(raw_order_id)
        row = self._load(order_id)
        status = row.status
        if status in FINAL_STATUSES and not self.reconciler.is_suspect(row):
            return self._view(order_id)  # an inferred final status is re-checked instead
        try:
            self.reconciler.settle(order_id, current_correlation())
        except TradeError as exc:
            log.warning("could not refresh order %s from the broker: %s", order_id, exc.message)
            return self._view(order_id, stale=True)
        return self._view(order_id)

    def cancel(self, raw_order_id: Any) -> OrderView:
        order_id = parse_order_id(raw_order_id)
        correlation = current_correlation()
        row = self._load(order_id)
        if row.status in UNSETTLED_STATUSES:
            self.reconciler.settle(order_id, correlation)
            row = self._load(order_id)
        status = row.status
        if status not in ACTIVE_STATUSES or not row.brokerage_order_id:
            error = TradeError(
                ErrorCode.ORDER_NOT_CANCELABLE,
                f"order is {status.value}; only working orders can be canceled",
                {"order_id": str(order_id), "status": status.value},
            )
            self._audit(row, correlation, "CANCEL_REFUSED", error)
            raise error
        self._audit(row, correlation, "CANCEL_REQUESTED", None)
        adapter = self.router.for_provider(row.broker_provider)
        try:
            result = adapter.cancel_order(row.account_id, row.brokerage_order_id)
        except TradeError as exc:
            self._audit(row, correlation, "CANCEL_FAILED", exc)
            raise
        with transaction(self.store.session_factory) as session:
            locked = self.store.get_order(session, order_id, lock=True)
            assert locked is not None
            changes = apply_broker_order(locked, result)
            session.add(
                new_event(
                    "CANCEL_RESULT", correlation_id=correlation, preview_id=locked.preview_id, order_id=locked.id,
                    account_id=locked.account_id, provider=locked.broker_provider, status=locked.status,
                    payload={"changes": changes or {}, "broker": result.raw},
                )
            )
            return self.view(session, locked)

    def _audit(self, row: TradeOrder, correlation: uuid.UUID, event: str, error: TradeError | None) -> None:
        self.store.audit(
            new_event(event, correlation_id=correlation, preview_id=row.preview_id, order_id=row.id,
                      account_id=row.account_id, provider=row.broker_provider, status=row.status, error=error)
        )

    def _load(self, order_id: uuid.UUID) -> TradeOrder:
        with self.store.session_factory() as session:
            row = self.store.get_order(session, order_id)
        if row is None:
            raise TradeError(ErrorCode.ORDER_NOT_FOUND, "no such order", {"order_id": str(order_id)})
        return row

    def _view(self, order_id: uuid.UUID, *, stale: bool = False) -> OrderView:
        with self.store.session_factory() as session:
            row = self.store.get_order(session, order_id)
            assert row is not None
            return self.view(session, row, stale=stale)
