"""Attached orders (brackets) and transmit semantics, as TWS handles them.

* An order placed with `transmit=False` is kept, untransmitted (PendingSubmit, listed among the
  open orders, never acknowledged or matched), until an order of its set arrives with
  `transmit=True`: then the whole set is transmitted at once.
* A child (`parentId` = an order of the same client) is held (PreSubmitted, never matched) until
  its parent has filled; then it works like any order of its type.
* Cancelling a parent cancels its children; children in one OCA group cancel each other when one
  fills (Gateway._cancel_oca).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .matching import rejected
from .orders import OrderRecord

if TYPE_CHECKING:
    from .accounts import Account
    from .gateway import Gateway
    from .instruments import Instrument


class Brackets:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def parent_of(self, order: OrderRecord) -> OrderRecord | None:
        if not order.parent_id:
            return None
        return self.gateway.broker.by_key.get((order.client_id, order.parent_id))

    def children_of(self, parent: OrderRecord) -> list[OrderRecord]:
        return [o for o in self.gateway.broker.orders
                if o.parent_id == parent.order_id and o.client_id == parent.client_id and o is not parent]

    def check_admission(self, order: OrderRecord, account: Account, inst: Instrument) -> None:
        """An order's margin; a child needs instead a parent of its own client that is still working (or still
        untransmitted), and no margin of its own (it closes the parent's position)."""
        broker = self.gateway.broker
        if not order.parent_id:
            price = broker.reference_price(order.action, order.order_type, order.lmt_price, order.aux_price, inst)
            broker.check_funds(broker.impact(account, inst, order.sign * order.quantity, price))
            return
        parent = self.parent_of(order)
        if parent is None or parent.is_done:
            raise rejected(f"The parent order {order.parent_id} is not working; the attached order is refused.")

    def admitted(self, order: OrderRecord) -> bool:
        """After validation: True when the order goes live now; False while its set is still being built."""
        if not order.transmitted:
            return False  # kept until the set's last order transmits it
        parent = self.parent_of(order)
        if parent is None:
            return True
        self._transmit(parent, order)
        return False

    def _transmit(self, parent: OrderRecord, last: OrderRecord) -> None:
        """The set's last order arrived: children held until the parent fills, then the parent goes live."""
        for child in [*self.children_of(parent)]:
            if child.is_done:
                continue
            child.transmitted, child.held, child.status = True, True, "PreSubmitted"
            self.gateway._emit(child)
        if parent.transmitted and parent.status != "PendingSubmit":
            return  # the parent was already live (a child added later): the child waits for its fill
        parent.transmitted = True
        self.gateway._ack(parent)

    def parent_filled(self, parent: OrderRecord) -> None:
        """The parent filled (completely): its held children start working."""
        if parent.status != "Filled":
            return
        for child in self.children_of(parent):
            if child.held and not child.is_done:
                child.held = False
                self.gateway.broker.activate(child)
                self.gateway._emit(child)
                self.gateway._evaluate(child, arriving=True)

    def parent_ended(self, parent: OrderRecord) -> None:
        """A parent cancelled (or refused): its children go with it."""
        for child in self.children_of(parent):
            if not child.is_done:
                self.gateway.cancel(child)

