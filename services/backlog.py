"""How many orders wait for reconciliation (SUBMITTING / UNKNOWN), for the metrics backlog gauge."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.models import UNSETTLED_STATUSES
from db.models import TradeOrder


def unsettled_counts(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """Rows per unsettled status (zero included), in one short read-only query."""
    counts = {status.value: 0 for status in UNSETTLED_STATUSES}
    with session_factory() as session:
        rows = session.execute(
            select(TradeOrder.status, func.count())
            .where(TradeOrder.status.in_(list(counts)))
            .group_by(TradeOrder.status)
        ).all()
    for status, count in rows:
        counts[str(status)] = int(count)
    return counts
