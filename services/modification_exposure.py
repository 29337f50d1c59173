"""What a change of a working order adds to the execute-time account check (services/execution_gate.py).

The check counts every working order of the account (execute_sql._OPEN_EXPOSURE); a modification's
row is already counted at its current terms, so the change adds only the difference: shares for a
sell (new unfilled quantity minus old), value for a buy (new unfilled value minus old), each value
as _OPEN_EXPOSURE counts a buy: the preview's value per unit, scaled by the order's price over the
price the preview valued it at.
"""

from __future__ import annotations

from decimal import Decimal

from brokers.models import OrderRequest, OrderSide
from db.models import TradeOrder, TradePreview
from services.validation import order_price


def extra_exposure(order: TradeOrder, preview: TradePreview, old: OrderRequest, new: OrderRequest) -> Decimal:
    """What the change adds to the order's count; zero or less when it lowers it."""
    old_unfilled = order.remaining_quantity if order.remaining_quantity is not None \
        else old.quantity - order.filled_quantity
    new_unfilled = new.quantity - order.filled_quantity
    if preview.side == OrderSide.SELL.value:
        return new_unfilled - old_unfilled
    return _buy_value(preview, new, new_unfilled) - _buy_value(preview, old, old_unfilled)


def _buy_value(preview: TradePreview, terms: OrderRequest, unfilled: Decimal) -> Decimal:
    per_unit = (preview.estimated_total or Decimal(0)) / preview.quantity
    price, valued_at = order_price(terms, None), preview.estimated_price
    scale = price / valued_at if price is not None and valued_at else Decimal(1)
    return per_unit * unfilled * scale
