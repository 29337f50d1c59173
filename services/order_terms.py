"""An order row's terms now, for views: a modification applied to it, else its bracket leg's, else its preview's."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from db.models import TradeOrder, TradePreview


@dataclass(frozen=True)
class CurrentTerms:
    side: str | None
    order_type: str | None
    quantity: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None


def current_terms(row: TradeOrder, preview: TradePreview | None) -> CurrentTerms:
    from services.set_legs import leg_terms  # set_legs imports the execute path, which imports the views

    leg = leg_terms(row, preview)  # a bracket's child leg: its own side, type and price
    side = leg.side if leg else preview.side if preview else None
    order_type = leg.order_type if leg else preview.order_type if preview else None
    if row.quantity is not None:  # a modification the broker confirmed wrote the order's terms on its row
        return CurrentTerms(side, order_type, row.quantity, row.limit_price, row.stop_price)
    quantity = preview.quantity if preview is not None else None
    if leg is not None:
        return CurrentTerms(side, order_type, quantity, leg.limit_price, leg.stop_price)
    return CurrentTerms(side, order_type, quantity, preview.limit_price if preview else None,
                        preview.stop_price if preview else None)
