"""Moving orders into the past: the settings refuse a settle window shorter than the broker timeout,
so tests that need "the window has passed" move the rows' submission time back instead of waiting.

Only the row moves: the recorded end of the placement (its outcome event) stays, so a SnapTrade
order booked during that placement is still inside the in-flight window reconciliation matches in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from db.engine import transaction
from db.models import TradeOrder


def backdate_orders(
    factory: sessionmaker[Session], order_ids: Iterable[uuid.UUID | str] | None = None, *, seconds: float = 3600
) -> None:
    """Submission and creation of these orders (all when None) move back by `seconds`."""
    shift = timedelta(seconds=seconds)
    stmt = update(TradeOrder).values(
        submitted_at=TradeOrder.submitted_at - shift, created_at=TradeOrder.created_at - shift
    )
    if order_ids is not None:
        stmt = stmt.where(TradeOrder.id.in_([uuid.UUID(str(i)) for i in order_ids]))
    with transaction(factory) as session:
        session.execute(stmt)
