"""Reading and canceling orders: stored state, refreshed from the broker when it may have moved."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokers.errors import ErrorCode, TradeError
from brokers.models import ACTIVE_STATUSES, FINAL_STATUSES, UNSETTLED_STATUSES, BrokerProvider
from brokers.user_context import acting_for, belongs_to_another
from db.engine import transaction
from db.models import TradeOrder
from services.order_listing import OrderListing
from services.order_store import OrderStore, apply_broker_order, new_event
from services.reconciliation import Reconciler
from services.results import OrderView
from services.routing import AdapterRouter
from services.set_legs import preview_of
from telemetry.correlation import current_correlation

log = logging.getLogger(__name__)

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
        self.listing = OrderListing(store, router)

    def view(self, session: Session, row: TradeOrder, *, stale: bool = False) -> OrderView:
        return OrderView.of(row, preview_of(session, row), stale=stale)

    def list(self, account_id: Any, state: Any, days: Any, *, user: str | None = None) -> list[OrderView]:
        return self.listing.orders(account_id, state, days, user=user)

    def status(self, raw_order_id: Any, *, user: str | None = None) -> OrderView:
        order_id = parse_order_id(raw_order_id)
        row = self._load(order_id)
        self._refuse_another_users(row, user, "STATUS_REFUSED")
        with acting_for(row.user_email):  # the broker is asked as the user who placed it
            return self._status(order_id, row)

    def _status(self, order_id: uuid.UUID, row: TradeOrder) -> OrderView:
        self._check_scope(row)
        status = row.status
        if status in FINAL_STATUSES and not self.reconciler.is_suspect(row):
            return self._view(order_id)  # an inferred final status is re-checked instead
        try:
            self.reconciler.settle(order_id, current_correlation())
        except TradeError as exc:
            log.warning("could not refresh order %s from the broker: %s", order_id, exc.message)
            return self._view(order_id, stale=True)
        return self._view(order_id)

    def cancel(self, raw_order_id: Any, *, user: str | None = None) -> OrderView:
        order_id = parse_order_id(raw_order_id)
        row = self._load(order_id)
        self._refuse_another_users(row, user, "CANCEL_REFUSED")
        with acting_for(row.user_email):  # cancelled with the credentials of the user who placed it
            return self._cancel(order_id, row)

    def _refuse_another_users(self, row: TradeOrder, user: str | None, event: str) -> None:
        """Another platform user's order is answered as not found (audited), whatever its state."""
        if belongs_to_another(row.user_email, user):
            error = TradeError(ErrorCode.ORDER_NOT_FOUND, "no such order for this user (it belongs to another "
                               "user): list this user's orders with get_orders", {"order_id": str(row.id)})
            self._audit(row, current_correlation(), event, error)
            raise error

    def _cancel(self, order_id: uuid.UUID, row: TradeOrder) -> OrderView:
        correlation = current_correlation()
        self._check_scope(row)
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
            if locked is None:  # deleted behind our back: the cancel still reached the broker, say so
                raise TradeError(
                    ErrorCode.ORDER_NOT_FOUND,
                    "the cancel was sent to the broker, but the order row is gone, so its result was not recorded",
                    {"order_id": str(order_id), "cancel_sent": True},
                )
            changes = apply_broker_order(locked, result)
            session.add(
                new_event(
                    "CANCEL_RESULT", correlation_id=correlation, preview_id=locked.preview_id, order_id=locked.id,
                    account_id=locked.account_id, provider=locked.broker_provider, status=locked.status,
                    payload={"changes": changes or {}, "broker": result.raw},
                )
            )
            return self.view(session, locked)

    def cancel_at_broker(
        self, raw_account_id: Any, raw_brokerage_order_id: Any, *, user: str | None = None,
        cancel_ours: Callable[[uuid.UUID], OrderView] | None = None,
    ) -> OrderView:
        """The contract's cancel: by account and the BROKER's order id (our row's, or one placed elsewhere).
        Our own order goes through `cancel_ours` when given (the service's cancel: a bracket entry's whole set)."""
        account_id = _text("account_id", raw_account_id, 64, ErrorCode.ACCOUNT_NOT_FOUND)
        brokerage_order_id = _text("order_id", raw_brokerage_order_id, 128, ErrorCode.ORDER_NOT_FOUND)
        adapter = self.router.for_account(account_id)
        with self.store.session_factory() as session:
            ours = session.execute(
                select(TradeOrder.id).where(
                    TradeOrder.account_id == account_id,
                    TradeOrder.broker_provider == adapter.provider.value,
                    TradeOrder.brokerage_order_id == brokerage_order_id,
                )
            ).scalars().first()
        if ours is not None:
            return cancel_ours(ours) if cancel_ours is not None else self.cancel(ours, user=user)
        return self._cancel_foreign(adapter.provider, account_id, brokerage_order_id)

    def _cancel_foreign(self, provider: BrokerProvider, account_id: str, brokerage_order_id: str) -> OrderView:
        """An order placed outside the module: cancelled on explicit request, audited, never adopted."""
        correlation = uuid.uuid4()
        details = {"brokerage_order_id": brokerage_order_id, "source": "brokerage"}
        self.store.audit(new_event("CANCEL_REQUESTED", correlation_id=correlation, account_id=account_id,
                                   provider=provider.value, payload=details))
        adapter = self.router.for_provider(provider)
        try:
            result = adapter.cancel_order(account_id, brokerage_order_id)
        except TradeError as exc:
            self.store.audit(new_event("CANCEL_FAILED", correlation_id=correlation, account_id=account_id,
                                       provider=provider.value, error=exc,
                                       payload={**details, "error": exc.to_dict()}))
            raise
        self.store.audit(new_event("CANCEL_RESULT", correlation_id=correlation, account_id=account_id,
                                   provider=provider.value, status=result.status.value,
                                   payload={**details, "broker": result.raw}))
        return OrderView.of_broker(result, provider.value)

    def _check_scope(self, row: TradeOrder) -> None:
        """Reads and cancels cover only accounts this process may trade (IBKR_ACCOUNTS, BROKERS)."""
        adapter = next((a for a in self.router.adapters if a.provider == row.broker_provider), None)
        try:
            allowed = adapter is not None and adapter.owns_account(row.account_id)
        except TradeError:
            return  # the broker could not be asked: our own row stays readable
        if not allowed:
            raise TradeError(ErrorCode.ORDER_NOT_FOUND, "no such order among the accounts this process may trade",
                             {"order_id": str(row.id)})

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
            if row is None:
                raise TradeError(ErrorCode.ORDER_NOT_FOUND, "no such order", {"order_id": str(order_id)})
            return self.view(session, row, stale=stale)


def _text(name: str, value: Any, max_length: int, code: ErrorCode) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= max_length:
        raise TradeError(code, f"{name} must be a string of 1 to {max_length} characters", {"field": name})
    return value.strip()
