"""Bracket orders (issue 16): which entries may carry a take-profit and a stop-loss, and the price order.

A bracket is an entry (the parent) plus a take-profit limit and/or a stop-loss stop (children on the
opposite side, same quantity, in one one-cancels-all group). For a BUY entry the prices must run
stop_loss < entry < take_profit; for a SELL entry, take_profit < entry < stop_loss. The entry price is
the order's own limit (Limit, StopLimit) or stop (Stop); a Market entry is checked against the quote
when the preview is made. Pure functions over plain values: `brokers.models` validates with them.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

BRACKET_ENTRY_TYPES = ("Market", "Limit", "Stop", "StopLimit")
"""Entry (parent) order types IB accepts with attached children; the others cannot carry a bracket."""


class LegRole(StrEnum):
    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


REF_SUFFIX = {LegRole.TAKE_PROFIT: "-tp", LegRole.STOP_LOSS: "-sl"}
"""A child leg's orderRef is the set's (the entry's) client_order_ref plus this suffix."""
OCA_SUFFIX = "-oca"


def leg_ref(entry_ref: str, role: LegRole) -> str:
    return entry_ref + REF_SUFFIX.get(role, "")


def entry_price(order_type: str, limit_price: Decimal | None, stop_price: Decimal | None) -> Decimal | None:
    """The price the entry trades at (known before the quote): its limit, else its stop; None for Market."""
    if order_type in ("Limit", "StopLimit"):
        return limit_price
    if order_type == "Stop":
        return stop_price
    return None


def bracket_problems(
    side: str, order_type: str, entry: Decimal | None, take_profit: Decimal | None, stop_loss: Decimal | None,
    *, basis: str = "entry price",
) -> list[dict[str, str]]:
    """Every problem of a bracket's terms, each named by its field; [] when there is no bracket."""
    if take_profit is None and stop_loss is None:
        return []
    if order_type not in BRACKET_ENTRY_TYPES:
        return [{"field": "order_type", "problem": f"a bracket entry must be one of {', '.join(BRACKET_ENTRY_TYPES)}"
                 f" ({order_type} orders cannot carry take_profit_price or stop_loss_price)"}]
    buy = side == "BUY"
    problems: list[dict[str, str]] = []
    if take_profit is not None and stop_loss is not None and (stop_loss >= take_profit if buy
                                                              else take_profit >= stop_loss):
        problems.append({"field": "stop_loss_price", "problem": (
            f"for a {side} bracket stop_loss_price must be {'below' if buy else 'above'} take_profit_price")})
    if entry is None:
        return problems
    if take_profit is not None and (take_profit <= entry if buy else take_profit >= entry):
        problems.append({"field": "take_profit_price", "problem": (
            f"for a {side} bracket take_profit_price must be {'above' if buy else 'below'} the {basis} {entry}")})
    if stop_loss is not None and (stop_loss >= entry if buy else stop_loss <= entry):
        problems.append({"field": "stop_loss_price", "problem": (
            f"for a {side} bracket stop_loss_price must be {'below' if buy else 'above'} the {basis} {entry}")})
    return problems
