"""Folding a broker's report into our order row: the one place a status changes after placement.

Rules, in order of strength:
- a fill is evidence that overrides everything we believed (REJECTED, CANCELED, FAILED, EXPIRED):
  the row is corrected and the correction says what was believed and what the broker says;
- a broker showing the order working overrides an inferred final status (FAILED "not found",
  REJECTED, or a CANCELED still being re-checked);
- otherwise a final status stays final and a late or stale report never moves it back;
- brokers never set our own states (SUBMITTING, UNKNOWN).
Numbers are compared as the column stores them, so a poll never records a rounding as a change.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from sqlalchemy.orm import Session

from brokers.models import ACTIVE_STATUSES, FINAL_STATUSES, UNSETTLED_STATUSES, OrderStatus
from brokers.records import BrokerOrder
from db.models import TradeEvent, TradeOrder
from services.modification_sql import explained_quantities

STORED_PLACES = Decimal("1e-16")  # db.models.BrokerNumber: Numeric(36, 16)
MAX_INTEGER_DIGITS = 20
_CONTEXT = Context(prec=60)

MISSING_AT_BROKER = "MISSING_AT_BROKER"
OVERFILLED = "OVERFILLED"

INFERRED_FINAL = frozenset({OrderStatus.FAILED, OrderStatus.REJECTED})
"""Final statuses a report of a working order overturns: ours by inference, or a rejection that may not be one."""


def _now() -> datetime:
    return datetime.now(UTC)


def stored(value: Decimal | None) -> Decimal | None:
    """A broker number as the column keeps it; None when it cannot be stored at all."""
    if value is None or not value.is_finite() or value.adjusted() >= MAX_INTEGER_DIGITS:
        return None
    return value.quantize(STORED_PLACES, rounding=ROUND_HALF_EVEN, context=_CONTEXT)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _next_status(row: TradeOrder, current: OrderStatus, reported: OrderStatus, filled: Decimal) -> OrderStatus:
    if reported in UNSETTLED_STATUSES or reported is current:
        return current
    if current is OrderStatus.EXECUTED:
        return current
    if current in FINAL_STATUSES:
        if filled > 0 and (filled > row.filled_quantity or current in INFERRED_FINAL):
            return reported  # a fill overrides what we believed
        if reported in ACTIVE_STATUSES and (current in INFERRED_FINAL or row.recheck_until is not None):
            return reported  # the broker shows it working: our final status was an inference
        if current is OrderStatus.FAILED:
            return reported  # FAILED is ours ('not found'); any word from the broker replaces it
        return current
    return reported


def apply_broker_order(row: TradeOrder, update: BrokerOrder) -> dict[str, Any] | None:
    """Fold a broker report into the row. Returns the changes made, or None if nothing changed."""
    current = row.status
    if current is OrderStatus.SIMULATED:
        return None
    changes: dict[str, Any] = {}
    filled = stored(update.filled_quantity) or Decimal(0)
    new_status = _next_status(row, current, update.status, filled)
    if new_status is not current:
        changes["status"] = (current.value, new_status.value)
        row.status = new_status
        if current in FINAL_STATUSES:
            changes["corrected"] = {"believed": current.value, "broker_says": new_status.value,
                                    "error_code": row.error_code, "error_message": row.error_message}
            row.recheck_until = None
            row.error_code = None
            row.error_message = None
        _stamp_final(row, new_status)
    if update.brokerage_order_id and row.brokerage_order_id != update.brokerage_order_id:
        changes["brokerage_order_id"] = (row.brokerage_order_id, update.brokerage_order_id)
        row.brokerage_order_id = update.brokerage_order_id
    _apply_numbers(row, update, filled, changes)
    if row.missing_since is not None or row.attention == MISSING_AT_BROKER:
        changes["missing_since"] = (row.missing_since.isoformat() if row.missing_since else None, None)
        row.missing_since = None
        if row.attention == MISSING_AT_BROKER:
            changes["attention"] = (row.attention, None)
            row.attention = None
    if not changes:
        return None
    row.brokerage_response = _jsonable({**(row.brokerage_response or {}), "last_report": update.raw})
    row.updated_at = _now()
    return changes


def _stamp_final(row: TradeOrder, status: OrderStatus) -> None:
    """executed_at / cancelled_at: set when the status first becomes EXECUTED / CANCELED, never moved later.
    A CANCELED the broker overturns (a fill, or the order still working) was no cancel: its time is cleared."""
    now = _now()
    if status is OrderStatus.EXECUTED and row.executed_at is None:
        row.executed_at = now
    if status is OrderStatus.CANCELED and row.cancelled_at is None:
        row.cancelled_at = now
    elif status is not OrderStatus.CANCELED:
        row.cancelled_at = None


def _apply_numbers(row: TradeOrder, update: BrokerOrder, filled: Decimal, changes: dict[str, Any]) -> None:
    price = stored(update.average_fill_price)
    if filled > row.filled_quantity:
        changes["filled_quantity"] = (_text(row.filled_quantity), _text(filled))
        row.filled_quantity = filled
        if price is not None and price != row.average_fill_price:
            changes["average_fill_price"] = (_text(row.average_fill_price), _text(price))
            row.average_fill_price = price
    elif row.average_fill_price is None and price is not None and filled > 0:
        changes["average_fill_price"] = (None, _text(price))
        row.average_fill_price = price
    remaining = stored(update.remaining_quantity)
    moved = "status" in changes or "filled_quantity" in changes or row.remaining_quantity is None
    if remaining is not None and remaining != row.remaining_quantity and moved:
        row.remaining_quantity = remaining
    commission = stored(update.commission)
    if commission is not None and commission != row.commission:
        changes["commission"] = (_text(row.commission), _text(commission))
        row.commission = commission
    quantity = stored(update.quantity)
    if quantity is not None and quantity != row.broker_quantity:
        changes["broker_quantity"] = (_text(row.broker_quantity), _text(quantity))
        row.broker_quantity = quantity


def record_report(
    session: Session,
    row: TradeOrder,
    update: BrokerOrder,
    *,
    event_type: str,
    correlation: uuid.UUID,
    recheck: timedelta | None = None,
) -> dict[str, Any] | None:
    """Apply a report and audit it: the change itself, a correction, an edited quantity, an over-fill.

    `recheck`: a REJECTED that arrives as a report (not as the refusal of our placement) may be a
    warning the broker's library took for a rejection, so it stays re-checked this long.
    """
    from services.modification_settle import settle_from_report  # imports the store, which imports this module

    was = row.status
    changes = apply_broker_order(row, update)
    settle_from_report(session, row, update, correlation)  # a modification sent without an answer
    if not changes:
        return None
    audit = _Audit(session, row, correlation, update)
    audit.add("ORDER_CORRECTED" if "corrected" in changes else event_type, {"changes": changes})
    if recheck is not None and row.status == OrderStatus.REJECTED.value and was is not OrderStatus.REJECTED:
        row.recheck_until = (row.submitted_at or row.created_at) + recheck
    from services.set_legs import preview_of

    preview = preview_of(session, row)  # a bracket's legs share their entry's quantity
    confirmed = row.quantity if row.quantity is not None else preview.quantity if preview is not None else None
    if confirmed is None:
        return changes
    explained = {confirmed, *explained_quantities(session, row.id)}  # a modification we sent changes it
    confirmed = max(explained)
    if "broker_quantity" in changes and row.broker_quantity not in explained:
        audit.add("ORDER_QUANTITY_CHANGED", {
            "confirmed_quantity": _text(confirmed), "broker_quantity": _text(row.broker_quantity),
            "previous_broker_quantity": changes["broker_quantity"][0],
        })
    if row.filled_quantity > confirmed and row.attention != OVERFILLED:
        row.attention = OVERFILLED
        audit.add("ORDER_OVERFILLED", {
            "confirmed_quantity": _text(confirmed), "filled_quantity": _text(row.filled_quantity),
            "broker_quantity": _text(row.broker_quantity),
        })
    return changes


class _Audit:
    def __init__(self, session: Session, row: TradeOrder, correlation: uuid.UUID, update: BrokerOrder) -> None:
        self.session, self.row, self.correlation, self.update = session, row, correlation, update

    def add(self, event_type: str, payload: dict[str, Any]) -> None:
        row = self.row
        self.session.add(
            TradeEvent(
                event_type=event_type, correlation_id=self.correlation, preview_id=row.preview_id,
                order_id=row.id, account_id=row.account_id, broker_provider=row.broker_provider,
                status=row.status, payload=_jsonable({**payload, "broker": self.update.raw}),
            )
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
