"""What reconciliation knows about one order, and what it concludes when the broker has no trace of it.

Kept apart from the loop in reconciliation.py: these are the rules an auditor reads.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from brokers.models import FINAL_STATUSES, UNSETTLED_STATUSES, OrderStatus
from brokers.records import BrokerOrder, OrderLookup
from db.models import TradeEvent, TradeOrder
from services.order_store import new_event, utcnow
from services.order_updates import MISSING_AT_BROKER
from services.set_legs import preview_of, request_of_row

if TYPE_CHECKING:
    from services.reconciliation import ReconcilePolicy

KNOWN_ORDERS_LOOKBACK = timedelta(hours=1)
"""Orders other rows own are excluded from matching. Only rows created near this one matter: a
broker order placed before this intent was committed cannot be its order. Bounding the look-back
keeps the scan on the (account_id, created_at) index instead of the account's whole history."""

PLACEMENT_ENDED_EVENTS = ("ORDER_OUTCOME_UNKNOWN", "ORDER_SUBMITTED", "ORDER_REJECTED", "ORDER_FAILED")
LOCK_NAMESPACE = 0x5245434E  # 'RECN': the first key of reconciliation's two-key advisory locks
LOCK_WAIT = "30s"


@dataclass(frozen=True)
class Outcome:
    status: OrderStatus
    corrected: str | None = None
    flagged: str | None = None
    unchanged_final: bool = False
    skipped: bool = False


@contextmanager
def account_lock(factory: sessionmaker[Session], account_id: str, *, wait: bool) -> Iterator[bool]:
    """One reconciliation per account across processes: a transaction-scoped advisory lock.

    Held across the broker calls on purpose: two processes settling the same account at once
    could each claim the same broker order for a different row.
    """
    key = zlib.crc32(account_id.encode()) - 2**31
    session = factory()
    try:
        if wait:
            session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
            try:
                session.execute(select(func.pg_advisory_xact_lock(LOCK_NAMESPACE, key)))
                held = True
            except OperationalError:
                held = False
        else:
            held = bool(session.execute(select(func.pg_try_advisory_xact_lock(LOCK_NAMESPACE, key))).scalar())
        yield held
    finally:
        session.rollback()  # ends the transaction, which releases the lock
        session.close()


def lookup_for(session: Session, row: TradeOrder, placement: timedelta) -> OrderLookup:
    preview = preview_of(session, row)  # a bracket's child leg: its entry's preview
    if preview is None:
        raise LookupError(f"order {row.id} has no preview")
    started = row.submitted_at or row.created_at
    known = session.execute(
        select(TradeOrder.brokerage_order_id).where(
            TradeOrder.account_id == row.account_id,
            TradeOrder.created_at >= started - KNOWN_ORDERS_LOOKBACK,
            TradeOrder.brokerage_order_id.is_not(None),
            TradeOrder.id != row.id,
        )
    ).scalars()
    return OrderLookup(
        account_id=row.account_id, client_order_ref=row.client_order_ref or "",
        request=request_of_row(row, preview), broker_symbol_id=preview.broker_symbol_id,
        brokerage_order_id=row.brokerage_order_id, submitted_at=started,
        in_flight_until=placement_ended_at(session, row) or started + placement,
        known_brokerage_order_ids=frozenset(k for k in known if k),
    )


def placement_ended_at(session: Session, row: TradeOrder) -> datetime | None:
    """When the placement call returned (its outcome was recorded); None if it never did (a crash)."""
    ended: datetime | None = session.execute(
        select(func.min(TradeEvent.created_at)).where(
            TradeEvent.order_id == row.id, TradeEvent.event_type.in_(PLACEMENT_ENDED_EVENTS)
        )
    ).scalar()
    return ended


def owner_of(session: Session, row: TradeOrder, found: BrokerOrder) -> uuid.UUID | None:
    """Another row that already owns the broker order reconciliation wants to give this row."""
    if not found.brokerage_order_id or found.brokerage_order_id == row.brokerage_order_id:
        return None
    owner: uuid.UUID | None = session.execute(
        select(TradeOrder.id).where(
            TradeOrder.broker_provider == row.broker_provider,
            TradeOrder.account_id == row.account_id,
            TradeOrder.brokerage_order_id == found.brokerage_order_id,
            TradeOrder.id != row.id,
        ).limit(1)
    ).scalar()
    return owner


def not_found(
    session: Session, row: TradeOrder, lookup: OrderLookup, correlation: uuid.UUID, policy: ReconcilePolicy,
    *, suspect: bool,
) -> Outcome:
    """The broker has no trace of the order: FAILED (re-checked), flagged missing, or not yet anything."""
    status = row.status
    if status in FINAL_STATUSES:
        return Outcome(status, unchanged_final=suspect)
    now = utcnow()
    started = row.submitted_at or row.created_at
    if status in UNSETTLED_STATUSES:
        if now - started <= max(policy.settle, policy.placement):
            return Outcome(status)  # it may still be in flight, or the broker's list may lag
        row.status = OrderStatus.FAILED
        row.error_code = "NOT_FOUND_AT_BROKER"
        row.error_message = ("the broker has no order with this client ref after the settle window; "
                             "re-checked until the re-check window ends, and corrected if it appears")
        row.recheck_until = started + policy.recheck
        row.updated_at = now
        _event(session, row, correlation, "ORDER_NOT_FOUND", {
            "previous_status": status.value, "client_order_ref": row.client_order_ref,
            "age_seconds": (now - started).total_seconds(), "recheck_until": row.recheck_until.isoformat(),
            "lookup": lookup.model_dump(mode="json"),
        })
        return Outcome(OrderStatus.FAILED)
    return _missing_working_order(session, row, lookup, correlation, policy, now)


def _missing_working_order(
    session: Session, row: TradeOrder, lookup: OrderLookup, correlation: uuid.UUID, policy: ReconcilePolicy,
    now: datetime,
) -> Outcome:
    status = row.status
    if row.missing_since is None:
        row.missing_since = now
        _event(session, row, correlation, "ORDER_NOT_LISTED", {
            "brokerage_order_id": row.brokerage_order_id, "flag_after_seconds": policy.missing.total_seconds(),
        })
        return Outcome(status)
    if now - row.missing_since < policy.missing or row.attention == MISSING_AT_BROKER:
        return Outcome(status)
    row.attention = MISSING_AT_BROKER
    row.updated_at = now
    _event(session, row, correlation, "ORDER_MISSING_AT_BROKER", {
        "brokerage_order_id": row.brokerage_order_id, "missing_since": row.missing_since.isoformat(),
        "last_seen_status": status.value, "last_report": (row.brokerage_response or {}).get("last_report"),
        "lookup": lookup.model_dump(mode="json"),
    })
    return Outcome(status, flagged=MISSING_AT_BROKER)


def _event(
    session: Session, row: TradeOrder, correlation: uuid.UUID, event_type: str, payload: dict[str, object]
) -> None:
    session.add(new_event(
        event_type, correlation_id=correlation, preview_id=row.preview_id, order_id=row.id,
        account_id=row.account_id, provider=row.broker_provider, status=row.status, payload=payload,
    ))
