"""Trailing stops and auction orders: the rules the plain stop/limit matching does not cover.

* TRAIL: the stop follows the last price at a distance (auxPrice, or trailingPercent of the last),
  only ever in the order's favour, starting from trailStopPrice when given; when the last reaches
  it the order becomes a market order. TRAIL LIMIT then becomes a limit order at the stop minus
  lmtPriceOffset to sell (plus, to buy).
* MOC waits for the closing auction and OPG orders for the opening one (`session_end.auction`).
"""

from __future__ import annotations

from decimal import Decimal

from .orders import OrderRecord


def follow(order: OrderRecord, last: Decimal | None) -> bool:
    """Move a trailing stop with the last price; True when the price has reached the stop."""
    if last is None:
        return False
    buy = order.action == "BUY"
    distance = order.aux_price if order.trailing_percent is None else last * order.trailing_percent / 100
    if distance is None:
        return False
    tick = order.instrument.min_tick
    candidate = _to_tick(last + distance if buy else last - distance, tick)
    current = order.trail_stop
    stop = candidate if current is None else (min(current, candidate) if buy else max(current, candidate))
    order.trail_stop = stop
    if not (last >= stop if buy else last <= stop):
        return False
    if order.order_type == "TRAIL LIMIT":
        offset = order.lmt_price_offset or Decimal(0)
        order.lmt_price = stop + offset if buy else stop - offset
    return True


def auction_price(order: OrderRecord) -> Decimal | None:
    """Where an auction order fills: the last (or close) price; a limit OPG only if marketable there."""
    quote = order.instrument.quote
    price = quote.last if quote.last is not None else quote.close
    if price is None or order.lmt_price is None:
        return price
    marketable = price <= order.lmt_price if order.action == "BUY" else price >= order.lmt_price
    return price if marketable else None


def _to_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value() * tick if tick > 0 else price
