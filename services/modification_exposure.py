"""Whether a change of a working order needs the execute-time account check (services/execution_gate.py).

Once claimed (SENDING), a modification counts in the check itself: execute_sql._OPEN_EXPOSURE counts
each working order at the larger of its terms and those of its change sent without an answer, as an
order to be sent counts by its inserted row. A change that adds nothing, neither shares to sell nor
value to buy, needs no check: it never takes what another order counts on, even when the account is
already short (shares sold elsewhere), so lowering an order is never refused for that.
"""

from __future__ import annotations

from brokers.models import OrderRequest, OrderSide
from db.models import TradeOrder
from services.validation import order_price


def adds_exposure(order: TradeOrder, old: OrderRequest, new: OrderRequest) -> bool:
    """More left to trade, or (a buy) a higher price to pay for it."""
    old_unfilled = order.remaining_quantity if order.remaining_quantity is not None \
        else old.quantity - order.filled_quantity
    if new.quantity - order.filled_quantity > old_unfilled:
        return True
    if new.side is not OrderSide.BUY:
        return False
    old_price, new_price = order_price(old, None), order_price(new, None)
    return old_price is not None and new_price is not None and new_price > old_price
