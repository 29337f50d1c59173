"""The legs of an order set (a bracket): each leg's own terms, and what placing each leg came to.

The entry is the order as requested; a take-profit is a Limit and a stop-loss a Stop, both on the
opposite side for the same quantity. They keep the entry's time in force when it is Day or GTC
(an IOC/FOK exit would cancel itself the moment it activates, so those become GTC) and its
outside_rth flag. Adapters place the legs; the service stores one row per leg.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from brokers.bracket_rules import LegRole
from brokers.errors import TradeError
from brokers.models import OrderRequest, OrderSide, OrderType, TimeInForce
from brokers.records import BrokerModel, BrokerOrder, OrderToPlace

OPPOSITE = {OrderSide.BUY: OrderSide.SELL, OrderSide.SELL: OrderSide.BUY}


def child_request(entry: OrderRequest, role: LegRole) -> OrderRequest:
    """A child leg's own terms, derived from the entry's (which were validated as a bracket)."""
    price = entry.take_profit_price if role is LegRole.TAKE_PROFIT else entry.stop_loss_price
    if price is None or role is LegRole.ENTRY:
        raise ValueError(f"the order has no {role.value} leg")
    tif = entry.time_in_force if entry.time_in_force in (TimeInForce.DAY, TimeInForce.GTC) else TimeInForce.GTC
    limit: Decimal | None = price if role is LegRole.TAKE_PROFIT else None
    return OrderRequest(
        account_id=entry.account_id, ticker=entry.ticker, side=OPPOSITE[entry.side], quantity=entry.quantity,
        order_type=OrderType.LIMIT if role is LegRole.TAKE_PROFIT else OrderType.STOP,
        limit_price=limit, stop_price=None if limit is not None else price, time_in_force=tif,
        outside_rth=entry.outside_rth, **entry.instrument_arguments(),  # the same contract as the entry
    )


def set_roles(entry: OrderRequest) -> list[LegRole]:
    """The legs of the set in placement order: the entry first, the stop-loss (if any) last."""
    roles = [LegRole.ENTRY]
    if entry.take_profit_price is not None:
        roles.append(LegRole.TAKE_PROFIT)
    if entry.stop_loss_price is not None:
        roles.append(LegRole.STOP_LOSS)
    return roles


def leg_request(entry: OrderRequest, role: LegRole) -> OrderRequest:
    """The entry's own terms without the bracket fields, or a child's terms."""
    if role is LegRole.ENTRY:
        return entry.model_copy(update={"take_profit_price": None, "stop_loss_price": None})
    return child_request(entry, role)


class OrderSetLeg(BrokerModel):
    """One leg to place: its role, its terms as confirmed, and its own client reference (orderRef)."""

    role: LegRole
    to_place: OrderToPlace
    client_order_ref: str


@dataclass(frozen=True)
class LegOutcome:
    """What placing one leg came to: the broker's answer, or one of the three placement errors."""

    role: LegRole
    order: BrokerOrder | None
    error: TradeError | None
