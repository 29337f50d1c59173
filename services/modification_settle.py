"""A modification sent without an answer (UNKNOWN) is settled by what the broker reports later.

It is never re-sent. When a report of the order (pushed, or read by reconciliation) shows every
changed term that a report carries (quantity, limit price, stop price) at its new value, the
modification was applied: it becomes APPLIED and the order row takes its terms. A change a report
cannot show (a trailing distance alone) stays UNKNOWN for a human to check.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from brokers.records import BrokerOrder
from db.models import ModificationStatus, TradeEvent, TradeModification, TradeOrder
from services import modification_sql as sql
from services.order_store import jsonable, utcnow

STALE_SENDING = timedelta(minutes=5)
"""A modification still SENDING after this was left by a process that stopped during the broker call."""
REPORTED = ("quantity", "limit_price", "stop_price")


def shows_new_terms(modification: TradeModification, report: BrokerOrder) -> bool:
    """Every changed term is reported, at its new value (and at least one changed term is reported at all)."""
    old, new = modification.old_terms, modification.new_terms
    changed = [name for name in REPORTED if old.get(name) != new.get(name)]
    for name in changed:
        reported, wanted = getattr(report, name), new.get(name)
        if reported is None or wanted is None or Decimal(str(wanted)) != reported:
            return False
    return bool(changed)


def write_terms(order: TradeOrder, terms: dict[str, Any]) -> None:
    """The order row takes the modification's terms (decimal text or Decimal)."""
    def number(name: str) -> Decimal | None:
        value = terms.get(name)
        return None if value is None else Decimal(str(value))

    quantity = number("quantity")
    order.quantity, order.limit_price, order.stop_price = quantity, number("limit_price"), number("stop_price")
    order.order_options = {k: None if v is None else str(v) for k, v in terms.items() if k not in REPORTED}
    if quantity is not None and order.remaining_quantity is not None:
        order.remaining_quantity = max(quantity - order.filled_quantity, Decimal(0))
    order.updated_at = utcnow()


def settle_from_report(session: Session, order: TradeOrder, report: BrokerOrder, correlation: uuid.UUID) -> None:
    for modification in sql.unsettled(session, order.id, utcnow() - STALE_SENDING):
        if not shows_new_terms(modification, report):
            continue
        settled = sql.settle(session, modification.id, ModificationStatus.APPLIED,
                             settling=(ModificationStatus.UNKNOWN, ModificationStatus.SENDING),
                             broker_response=jsonable(report.raw))
        if settled is None:
            continue
        write_terms(order, settled.new_terms)
        session.add(TradeEvent(
            event_type="MODIFICATION_APPLIED", correlation_id=correlation, preview_id=order.preview_id,
            order_id=order.id, account_id=order.account_id, broker_provider=order.broker_provider,
            status=settled.status.value, message="the broker's report shows the new terms",
            payload=jsonable({"modification_id": str(settled.id), "settled_by": "broker report",
                              "new": settled.new_terms, "broker": report.raw}),
        ))
