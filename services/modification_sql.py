"""The statements that make a modification apply once: a conditional claim, a conditional settle.

`claim` moves an ACTIVE, unexpired modification to SENDING (or SIMULATED) in the transaction that
is committed before the broker is called; a second execute, in this process or another, finds no
ACTIVE row and is refused. `settle` writes the outcome only onto a row still SENDING.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import ModificationStatus, TradeModification

IN_FLIGHT = (ModificationStatus.SENDING, ModificationStatus.UNKNOWN)
"""Sent and not answered: the broker may have applied it."""
EXPLAINED = (*IN_FLIGHT, ModificationStatus.APPLIED)
"""Modifications whose quantity a broker report may show without anything being wrong."""


def claim(session: Session, modification_id: uuid.UUID, status: ModificationStatus,
          now: datetime) -> TradeModification | None:
    """ACTIVE and unexpired -> `status`, or None when the row was not in that state."""
    stmt = (
        update(TradeModification)
        .where(TradeModification.id == modification_id, TradeModification.status == ModificationStatus.ACTIVE,
               TradeModification.expires_at > func.now())
        .values(status=status, sent_at=now)
        .returning(TradeModification)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).scalar_one_or_none()


def expire_if_due(session: Session, modification_id: uuid.UUID) -> bool:
    stmt = (
        update(TradeModification)
        .where(TradeModification.id == modification_id, TradeModification.status == ModificationStatus.ACTIVE,
               TradeModification.expires_at <= func.now())
        .values(status=ModificationStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def in_flight(session: Session, order_id: uuid.UUID, other_than: uuid.UUID) -> TradeModification | None:
    """Another modification of the order whose outcome is not known yet."""
    stmt = select(TradeModification).where(
        TradeModification.order_id == order_id, TradeModification.id != other_than,
        TradeModification.status.in_(IN_FLIGHT),
    ).limit(1)
    return session.execute(stmt).scalar_one_or_none()


def settle(session: Session, modification_id: uuid.UUID, status: ModificationStatus, *,
           settling: tuple[ModificationStatus, ...] = (ModificationStatus.SENDING,),
           **fields: Any) -> TradeModification | None:
    """SENDING (or another of `settling`) -> the outcome; None when something else settled it first."""
    stmt = (
        update(TradeModification)
        .where(TradeModification.id == modification_id, TradeModification.status.in_(settling))
        .values(status=status, settled_at=func.now(), **fields)
        .returning(TradeModification)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).scalar_one_or_none()


def explained_quantities(session: Session, order_id: uuid.UUID) -> list[Decimal]:
    """Quantities a broker may now report for the order because of a modification we sent."""
    stmt = select(TradeModification.new_quantity).where(
        TradeModification.order_id == order_id, TradeModification.status.in_(EXPLAINED))
    return list(session.execute(stmt).scalars())


def unsettled(session: Session, order_id: uuid.UUID, sending_before: datetime) -> list[TradeModification]:
    """The order's modifications sent without an answer: UNKNOWN, or SENDING since before `sending_before`
    (its process stopped mid-call; a live call settles its own row)."""
    stmt = select(TradeModification).where(
        TradeModification.order_id == order_id,
        (TradeModification.status == ModificationStatus.UNKNOWN)
        | ((TradeModification.status == ModificationStatus.SENDING) & (TradeModification.sent_at < sending_before)),
    ).order_by(TradeModification.sent_at)
    return list(session.execute(stmt).scalars())
