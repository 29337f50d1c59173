"""Persistence for previews, orders and the audit trail.

Status changes go through one function so that a late or stale broker report can
never move an order backwards (a filled order does not become 'Submitted' again).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import TradeError
from brokers.models import BrokerProvider, OrderStatus
from brokers.records import BrokerOrder
from db.engine import transaction
from db.models import TradeEvent, TradeOrder, TradePreview
from services.order_updates import apply_broker_order

__all__ = ["OrderStore", "apply_broker_order", "jsonable", "new_event", "utcnow"]

log = logging.getLogger(__name__)

def utcnow() -> datetime:
    return datetime.now(UTC)


def jsonable(value: Any) -> Any:
    """Make broker payloads storable in JSONB: Decimals and datetimes become strings."""
    return json.loads(json.dumps(value, default=str))


def new_event(
    event_type: str,
    *,
    correlation_id: uuid.UUID,
    preview_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    account_id: str | None = None,
    provider: str | None = None,
    status: str | None = None,
    error: TradeError | None = None,
    message: str | None = None,
    payload: dict[str, Any] | None = None,
) -> TradeEvent:
    return TradeEvent(
        event_type=event_type,
        correlation_id=correlation_id,
        preview_id=preview_id,
        order_id=order_id,
        account_id=account_id[:64] if account_id else None,
        broker_provider=provider,
        status=status,
        error_code=error.code.value if error else None,
        message=(error.message if error and message is None else message),
        payload=jsonable(payload or (error.details if error else {})),
    )


class OrderStore:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def audit(self, event: TradeEvent) -> None:
        """Write one event in its own transaction: refusals are recorded even when the work rolls back."""
        try:
            with transaction(self.session_factory) as session:
                session.add(event)
        except Exception:
            log.exception("could not write audit event %s", event.event_type)

    def get_preview(self, session: Session, preview_id: uuid.UUID, *, lock: bool = False) -> TradePreview | None:
        stmt = select(TradePreview).where(TradePreview.id == preview_id)
        if lock:
            stmt = stmt.with_for_update()
        return session.execute(stmt).scalar_one_or_none()

    def get_order(self, session: Session, order_id: uuid.UUID, *, lock: bool = False) -> TradeOrder | None:
        stmt = select(TradeOrder).where(TradeOrder.id == order_id)
        if lock:
            stmt = stmt.with_for_update()
        return session.execute(stmt).scalar_one_or_none()

    def order_for_preview(self, session: Session, preview_id: uuid.UUID) -> TradeOrder | None:
        return session.execute(
            select(TradeOrder).where(TradeOrder.preview_id == preview_id)
        ).scalar_one_or_none()

    def find_order(
        self, session: Session, provider: BrokerProvider, update: BrokerOrder
    ) -> TradeOrder | None:
        """Match a pushed broker update to our row: by client ref first, then by broker id."""
        if update.client_order_ref:
            row = session.execute(
                select(TradeOrder)
                .where(TradeOrder.client_order_ref == update.client_order_ref)
                .with_for_update()
            ).scalar_one_or_none()
            if row is not None:
                return row
        if update.brokerage_order_id:
            return session.execute(
                select(TradeOrder)
                .where(
                    TradeOrder.broker_provider == provider.value,
                    TradeOrder.account_id == update.account_id,
                    TradeOrder.brokerage_order_id == update.brokerage_order_id,
                )
                .with_for_update()
            ).scalar_one_or_none()
        return None

    def list_orders(
        self, session: Session, account_id: str | None, statuses: frozenset[OrderStatus] | None, days: int
    ) -> list[tuple[TradeOrder, TradePreview]]:
        since = utcnow() - timedelta(days=days)
        stmt = (
            select(TradeOrder, TradePreview)
            .join(TradePreview, TradePreview.id == TradeOrder.preview_id)
            .where(TradeOrder.created_at >= since)
            .order_by(TradeOrder.created_at.desc())
            .limit(1000)
        )
        if account_id is not None:
            stmt = stmt.where(TradeOrder.account_id == account_id)
        if statuses is not None:
            stmt = stmt.where(TradeOrder.status.in_([s.value for s in statuses]))
        return [(o, p) for o, p in session.execute(stmt).all()]

    def unsettled_order_ids(self, session: Session, statuses: frozenset[OrderStatus]) -> list[uuid.UUID]:
        stmt = (
            select(TradeOrder.id)
            .where(TradeOrder.status.in_([s.value for s in statuses]))
            .order_by(TradeOrder.updated_at)
        )
        return list(session.execute(stmt).scalars())
