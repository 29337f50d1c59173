"""The ends of a trading session, as the simulator's test controls run them: auctions and DAY expiry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .trailing import auction_price

if TYPE_CHECKING:
    from .gateway import Gateway


def auction(gateway: Gateway, kind: str) -> int:
    """The closing ('close': MOC) or opening ('open': OPG) auction: those orders fill at the last price
    (a limit OPG only if marketable; otherwise it is cancelled). Returns how many filled."""
    filled = 0
    for order in [o for o in gateway.broker.orders if o.is_active and o.at_auction == kind]:
        price = auction_price(order)
        if price is None:
            gateway.cancel(order)
            continue
        order.triggered, order.status = True, "Submitted"
        gateway.fill(order, order.remaining, price)
        filled += 1
    return filled


def expire_day_orders(gateway: Gateway) -> int:
    """End of day: every live DAY (and unfilled OPG) order is cancelled; returns how many."""
    expiring = [o for o in gateway.broker.orders if not o.is_done and o.tif in ("DAY", "OPG")]
    for order in expiring:
        gateway.cancel(order)
    return len(expiring)
