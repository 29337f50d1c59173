"""Step 5 of the execute protocol: settle orders whose outcome is unknown.

The broker is asked by client order ref; a row is only declared FAILED when the
order cannot be found after the settle window, and the evidence goes to trade_events.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import select

from brokers.errors import TradeError
from brokers.models import ACTIVE_STATUSES, UNSETTLED_STATUSES, BrokerOrder, OrderLookup, OrderStatus
from db.engine import transaction
from db.models import TradeOrder, TradePreview
from services.execution_gate import request_of
from services.order_store import OrderStore, apply_broker_order, new_event, utcnow
from services.results import ReconcileReport
from services.routing import AdapterRouter

log = logging.getLogger(__name__)

KNOWN_ORDERS_LOOKBACK = timedelta(hours=1)
"""Orders other rows own are excluded from matching. Only rows created near this one matter: a
broker order placed before this intent was committed cannot be its order. Bounding the look-back
keeps the scan on the (account_id, created_at) index instead of the account's whole history."""


class Reconciler:
    def __init__(self, store: OrderStore, router: AdapterRouter, settle_seconds: int) -> None:
        self.store = store
        self.router = router
        self.settle_window = timedelta(seconds=settle_seconds)

    def run(self, *, include_active: bool = False) -> ReconcileReport:
        statuses = UNSETTLED_STATUSES | (ACTIVE_STATUSES if include_active else frozenset())
        with self.store.session_factory() as session:
            order_ids = self.store.unsettled_order_ids(session, statuses)
        settled: dict[str, str] = {}
        still: list[str] = []
        failed: list[str] = []
        errors: list[dict[str, str]] = []
        correlation = uuid.uuid4()
        for order_id in order_ids:
            try:
                status = self.settle(order_id, correlation)
            except TradeError as exc:
                errors.append({"order_id": str(order_id), "error_code": exc.code.value, "message": exc.message})
                continue
            if status in UNSETTLED_STATUSES:
                still.append(str(order_id))
            elif status is OrderStatus.FAILED:
                failed.append(str(order_id))
            else:
                settled[str(order_id)] = status.value
        return ReconcileReport(
            examined=len(order_ids), settled=settled, still_unknown=still, failed=failed, errors=errors
        )

    def settle(self, order_id: uuid.UUID, correlation: uuid.UUID) -> OrderStatus:
        """Ask the broker about one order (no lock held meanwhile), then fold the answer in under a lock."""
        with self.store.session_factory() as session:
            row = session.get(TradeOrder, order_id)
            if row is None:
                return OrderStatus.FAILED
            preview = session.get(TradePreview, row.preview_id)
            assert preview is not None
            status = row.status
            since = (row.submitted_at or row.created_at) - KNOWN_ORDERS_LOOKBACK
            known = frozenset(
                session.execute(
                    select(TradeOrder.brokerage_order_id).where(
                        TradeOrder.account_id == row.account_id,
                        TradeOrder.created_at >= since,
                        TradeOrder.brokerage_order_id.is_not(None),
                        TradeOrder.id != row.id,
                    )
                ).scalars()
            )
            lookup = OrderLookup(
                account_id=row.account_id, client_order_ref=row.client_order_ref or "",
                request=request_of(preview), broker_symbol_id=preview.broker_symbol_id,
                brokerage_order_id=row.brokerage_order_id,
                submitted_at=row.submitted_at or row.created_at,
                known_brokerage_order_ids=frozenset(k for k in known if k),
            )
        adapter = self.router.for_provider(row.broker_provider)
        found: BrokerOrder | None
        if lookup.brokerage_order_id and status not in UNSETTLED_STATUSES:
            found = adapter.get_order(lookup.account_id, lookup.brokerage_order_id)
        else:
            found = adapter.find_order_by_ref(lookup)
        with transaction(self.store.session_factory) as session:
            locked = self.store.get_order(session, order_id, lock=True)
            assert locked is not None
            if found is not None:
                changes = apply_broker_order(locked, found)
                if changes:
                    session.add(
                        new_event(
                            "ORDER_RECONCILED", correlation_id=correlation, preview_id=locked.preview_id,
                            order_id=locked.id, account_id=locked.account_id, provider=locked.broker_provider,
                            status=locked.status, payload={"changes": changes, "broker": found.raw},
                        )
                    )
                return locked.status
            age = utcnow() - (locked.submitted_at or locked.created_at)
            if locked.status in UNSETTLED_STATUSES and age > self.settle_window:
                previous = locked.status
                locked.status = OrderStatus.FAILED
                locked.error_code = "NOT_FOUND_AT_BROKER"
                locked.error_message = "the broker has no order with this client ref after the settle window"
                locked.updated_at = utcnow()
                session.add(
                    new_event(
                        "ORDER_NOT_FOUND", correlation_id=correlation, preview_id=locked.preview_id,
                        order_id=locked.id, account_id=locked.account_id, provider=locked.broker_provider,
                        status=locked.status,
                        payload={"previous_status": previous, "client_order_ref": locked.client_order_ref,
                                 "age_seconds": age.total_seconds(), "lookup": lookup.model_dump(mode="json")},
                    )
                )
            return locked.status
