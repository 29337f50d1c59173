"""The execute-time account check of a change of a working order (services/execution_gate.py), when it needs one.

Once claimed (SENDING), a modification counts in the check itself: execute_sql._OPEN_EXPOSURE counts
each working order at the larger of its terms and those of its change sent without an answer, as an
order to be sent counts by its inserted row. A change that adds nothing, neither shares to sell nor
value to buy, needs no check: it never takes what another order counts on, even when the account is
already short (shares sold elsewhere), so lowering an order is never refused for that.
A bracket's exit leg: a SELL bracket's exits are BUY orders, counted as open buys once per set at the
larger exit value (services/exit_exposure.py), so a change that raises that value is checked against
buying power, under the BUY side's lock; a BUY bracket's exits sell what the entry bought, and their
quantity cannot change on its own, so a change of their price adds nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from brokers.base import BrokerAdapter
from brokers.models import OrderRequest, OrderSide
from db import direct
from db.models import TradeOrder, TradePreview
from services.execute_sql import lock_holdings_check
from services.execution_gate import ExecutionGate
from services.exit_exposure import raises_set_exit_value
from services.set_legs import CHILD_ROLES
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


def check_changed_order(session: Session, gate: ExecutionGate, claimed: uuid.UUID, order: TradeOrder,
                        preview: TradePreview, change: tuple[OrderRequest, OrderRequest],
                        adapter: BrokerAdapter) -> None:
    """In the claim's transaction (the change `claimed` is SENDING, the order row locked): the account check of
    a new order, with the change counted at its new terms, when the change (old, new) adds something."""
    old, new = change
    entry_id = order.parent_order_id if order.leg_role in CHILD_ROLES else None
    if entry_id is not None:
        if preview.side != OrderSide.SELL.value:
            return  # a BUY bracket's exit sells no more than it did
        side = OrderSide.BUY.value
    elif adds_exposure(order, old, new):
        side = preview.side
    else:
        return
    conn = session.connection()
    lock_holdings_check(conn, order.broker_provider, order.account_id, side)
    if entry_id is not None and not raises_set_exit_value(conn, entry_id, claimed):  # read under the lock
        return
    gate.check_holdings(direct.joined(conn), preview, adapter, modified_quantity=new.quantity, side=side)
