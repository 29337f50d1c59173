"""The order flow and fault injection, run on the simulator's event-loop thread.

Sessions parse requests; this class decides what happens to orders and sends the resulting
messages to the connection that owns each order (by client id, as TWS routes them). Order
events for a client that is not connected are simply not delivered; the state is kept, and
the client sees it through reqOpenOrders/reqCompletedOrders/reqExecutions when it returns.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from . import encode, market_data
from .brackets import Brackets
from .instruments import Instrument
from .matching import Broker, Refusal, modify_refusal, rejected
from .orders import OrderRecord, OrderRequest, OrderSnapshot, parse_place_order

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("simulators.ib_gateway")

CONNECTIVITY_NOTICES = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
}
DROP_WHEN = ("before_ack", "after_ack")
PRESET_WHEN = ("before_ack", "after_ack")
PRESET_NOTICE = (10349, "Order TIF was set to DAY based on order preset.")
"""What TWS sends when an order preset overrides the order's TIF; the order stays live."""


class Gateway:
    def __init__(self, broker: Broker, server_version: int, farm_notices: bool = True) -> None:
        self.broker = broker
        self.server_version = server_version
        self.farm_notices = farm_notices
        self.sessions: dict[int, Session] = {}
        self.open_sessions: set[Session] = set()
        self.connection_count = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        # faults and behaviour switches (plain attributes: set from any thread, read here)
        self.reject_next: str | None = None
        self.delay_acks_ms = 0
        self.delay_fills_ms = 0
        self.drop_on_place: str | None = None
        self.partial_next: Decimal | None = None
        self.auto_fill = True
        self.commission_report_first = False
        self.on_place_order: Callable[[OrderSnapshot], None] | None = None
        self.preset_notice: str | None = None
        self.inactive_before_submit = False
        self.market = market_data.MarketState()
        self.brackets = Brackets(self)
        self._received: list[tuple[int, int, list[str]]] = []
        self._received_lock = threading.Lock()
        self.account_update_interval_ms = 50
        self._dirty_quantities: dict[str, set[int]] = {}
        self._dirty_marks: dict[str, set[int]] = {}
        self._dirty_values: set[str] = set()
        self._positions_flush_pending = False
        self._values_flush_pending = False
        self._flush_sessions: list[Session] = []
        self._pass_scheduled = False

    # -- connections ---------------------------------------------------------
    def record(self, client_id: int, msg_id: int, fields: list[str]) -> None:
        with self._received_lock:
            self._received.append((client_id, msg_id, fields))

    def received(self) -> list[tuple[int, int, list[str]]]:
        with self._received_lock:
            return list(self._received)

    def clear_received(self) -> None:
        with self._received_lock:
            self._received.clear()

    def register(self, session: Session, client_id: int) -> bool:
        if client_id in self.sessions:
            return False
        self.sessions[client_id] = session
        return True

    def unregister(self, session: Session) -> None:
        self.open_sessions.discard(session)
        if session.client_id is not None and self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]

    def close_all(self) -> None:
        for session in list(self.open_sessions):
            session.close()

    def notice(self, code: int, message: str | None = None) -> None:
        text = message or CONNECTIVITY_NOTICES.get(code, f"Notice {code}")
        for session in list(self.sessions.values()):
            session.send(encode.error(session.server_version, -1, code, text))

    # -- order messages ------------------------------------------------------
    def _owner(self, order: OrderRecord) -> Session | None:
        return self.sessions.get(order.client_id)

    def _emit(self, order: OrderRecord, open_order: bool = True) -> None:
        session = self._owner(order)
        if session is not None:
            if open_order:
                session.send(encode.open_order(order, session.server_version))
            session.send(encode.order_status(order))

    def _emit_cancel(self, order: OrderRecord) -> None:
        self._emit(order, open_order=False)
        session = self._owner(order)
        if session is not None:
            session.send(encode.error(session.server_version, order.order_id, 202, "Order Canceled - reason:"))

    def _refuse(self, session: Session, req_id: int, refusal: Refusal) -> None:
        session.send(encode.error(session.server_version, req_id, refusal.code, refusal.message))

    # -- requests ------------------------------------------------------------
    def place_order(self, session: Session, fields: list[str]) -> None:
        client_id = session.client_id if session.client_id is not None else 0
        try:
            req = parse_place_order(fields, session.server_version)
        except (IndexError, ValueError):
            order_id = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else -1
            session.send(encode.error(session.server_version, order_id, 320, "Error reading placeOrder"))
            return
        self.broker.note_order_id(client_id, req.order_id)
        try:
            inst = self.broker.resolve(req.contract)
        except Refusal as refusal:
            self._refuse(session, req.order_id, refusal)
            return
        if req.what_if:
            self._what_if(session, req, inst)
            return
        existing = self.broker.by_key.get((client_id, req.order_id))
        if existing is not None:
            self._modify(session, existing, req, inst)
            return
        order = self.broker.new_record(req, inst, client_id, req.account, req.quantity or Decimal(0))
        hook = self.on_place_order
        if hook is not None:
            try:
                hook(order.snapshot())
            except Exception:
                log.exception("on_place_order hook failed")
        drop, self.drop_on_place = self.drop_on_place, None
        if drop == "before_ack":
            session.abort()
            return
        try:
            if self.reject_next is not None:
                reason, self.reject_next = self.reject_next, None
                raise rejected(reason)
            account = self.broker.account_for(req.account)
            order.account = account.account_id
            order.quantity = self.broker.validate(req, inst)
            self.brackets.check_admission(order, account, inst)  # margin, or a child's working parent
        except Refusal as refusal:
            order.status, order.reject_reason, order.completed_at = "Inactive", refusal.message, time.time()
            self.broker.record(order, accepted=False)
            self._refuse(session, req.order_id, refusal)
            return
        self.broker.record(order, accepted=True)
        if drop == "after_ack":
            session.abort()
        if self.brackets.admitted(order):  # brackets.py: transmit=False waits for its set
            self._later(self.delay_acks_ms, self._ack, order)

    def _what_if(self, session: Session, req: OrderRequest, inst: Instrument) -> None:
        try:
            account = self.broker.account_for(req.account)
            qty = self.broker.validate(req, inst)
        except Refusal as refusal:
            self._refuse(session, req.order_id, refusal)
            return
        order = self.broker.new_record(
            req, inst, session.client_id or 0, account.account_id, qty, assign_perm_id=False
        )
        price = self.broker.reference_price(req.action, req.order_type, order.lmt_price, order.aux_price, inst)
        impact = self.broker.impact(account, inst, order.sign * qty, price)
        session.send(encode.open_order(order, session.server_version, impact))

    def _modify(self, session: Session, order: OrderRecord, req: OrderRequest, inst: Instrument) -> None:
        drop, self.drop_on_place = self.drop_on_place, None  # a modification is a placement: the same fault
        if drop == "before_ack":
            session.abort()
            return
        try:
            refused = modify_refusal(order, req, inst)
            if refused is not None:
                raise refused
            self.broker.modify(order, req, self.broker.validate(req, inst))
        except Refusal as refusal:
            self._refuse(session, req.order_id, refusal)
            return
        if drop == "after_ack":  # applied, and the client never hears it
            session.abort()
        elif order.status != "PendingSubmit":
            self._emit(order)
            self._evaluate(order, arriving=True)

    def cancel_order(self, session: Session, order_id: int) -> None:
        order = self.broker.by_key.get((session.client_id or 0, order_id))
        version = session.server_version
        if order is None:
            session.send(encode.error(version, order_id, 10147,
                                      f"OrderId {order_id} that needs to be cancelled is not found."))
        elif order.is_done:
            session.send(encode.error(
                version, order_id, 10148,
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order.status}.",
            ))
        else:
            self.cancel(order)

    def cancel(self, order: OrderRecord) -> None:
        self.broker.cancel(order)
        self._emit_cancel(order)
        self.brackets.parent_ended(order)

    def global_cancel(self) -> None:
        for order in [o for o in self.broker.orders if not o.is_done]:
            self.cancel(order)

    # -- lifecycle -----------------------------------------------------------
    def _later(self, delay_ms: int, callback: Callable[..., None], *args: object) -> None:
        if delay_ms > 0 and self.loop is not None:
            self.loop.call_later(delay_ms / 1000, callback, *args)
        else:
            callback(*args)

    def _ack(self, order: OrderRecord) -> None:
        if order.status != "PendingSubmit":
            return  # cancelled while the ack was delayed
        if self.preset_notice == "before_ack":
            self._apply_preset(order)
        if self.inactive_before_submit:  # real gateways report a brief Inactive before Submitted
            order.status = "Inactive"
            self._emit(order, open_order=False)
        self.broker.activate(order)
        self._emit(order)
        if self.preset_notice == "after_ack":
            self._apply_preset(order)
        self._evaluate(order, arriving=True)

    def _apply_preset(self, order: OrderRecord) -> None:
        """An order preset sets the TIF to DAY and says so with an error message; the order keeps working."""
        order.tif = "DAY"
        session = self._owner(order)
        if session is not None:
            session.send(encode.error(session.server_version, order.order_id, *PRESET_NOTICE))

    def _evaluate(self, order: OrderRecord, arriving: bool) -> None:
        triggered, plan = self.broker.plan(order, arriving)
        if triggered:
            self._emit(order)
        live = not order.is_stop or order.triggered
        if plan is None or not self.auto_fill:
            if plan is None and arriving and live and order.tif in ("IOC", "FOK"):
                self.cancel(order)
            return
        quantity = plan.quantity
        if self.partial_next is not None:
            quantity, self.partial_next = min(quantity, self.partial_next), None
        if order.tif == "FOK" and quantity < order.remaining:
            self.cancel(order)
            return
        ioc = arriving and order.tif == "IOC"
        if self.delay_fills_ms > 0:
            order.fill_pending = True
        self._later(self.delay_fills_ms, self._auto_fill, order, quantity, plan.price, ioc)

    def _auto_fill(self, order: OrderRecord, quantity: Decimal, price: Decimal, ioc: bool) -> None:
        if not order.is_active:
            return  # cancelled while the fill was delayed
        order.fill_pending = False
        self.fill(order, quantity, price)
        if ioc and order.is_active:
            self.cancel(order)

    def fill(self, order: OrderRecord, quantity: Decimal, price: Decimal) -> None:
        execution = self.broker.execute(order, quantity, price)
        session = self._owner(order)
        if session is not None:
            version = session.server_version
            session.send(encode.exec_details(version, -1, execution))
            if self.commission_report_first:
                session.send(encode.commission_report(execution))
            if order.status == "Filled":
                session.send(encode.open_order(order, version))
            session.send(encode.order_status(order))
            if not self.commission_report_first:
                session.send(encode.commission_report(execution))
        self._mark_dirty(order.account, order.instrument.con_id, quantity_changed=True)
        self._cancel_oca(order)
        self.brackets.parent_filled(order)

    def _cancel_oca(self, filled: OrderRecord) -> None:
        """One-cancels-all (ocaType 1): a fill cancels the other working orders of its OCA group."""
        for other in self.broker.orders:
            if filled.oca_group and other is not filled and other.oca_group == filled.oca_group \
                    and other.account == filled.account and not other.is_done:
                self.cancel(other)

    def price_moved(self, inst: Instrument) -> None:
        for session in list(self.sessions.values()):
            session.push_quote(inst)
        for order in self.broker.resting(inst):
            self._evaluate(order, arriving=False)
        for account in self.broker.accounts.values():
            if inst.con_id in account.positions:
                self._mark_dirty(account.account_id, inst.con_id, quantity_changed=False)

    # -- account pushes --------------------------------------------------------
    def _mark_dirty(self, account: str, con_id: int, quantity_changed: bool) -> None:
        dirty = self._dirty_quantities if quantity_changed else self._dirty_marks
        dirty.setdefault(account, set()).add(con_id)
        self._dirty_values.add(account)
        loop = self.loop if self.loop is not None and self.loop.is_running() else None
        if not self._positions_flush_pending:
            self._positions_flush_pending = True
            if loop is not None:
                self._schedule_pass(loop)
            else:
                self._flush_positions()
        if not self._values_flush_pending:
            self._values_flush_pending = True
            if loop is not None:
                loop.call_later(self.account_update_interval_ms / 1000, self._flush_values)
            else:
                self._flush_values()

    def want_flush(self, session: Session) -> None:
        self._flush_sessions.append(session)
        self._schedule_pass(asyncio.get_running_loop())

    def _schedule_pass(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._pass_scheduled:
            self._pass_scheduled = True
            loop.call_soon(self._end_of_pass)

    def _end_of_pass(self) -> None:
        """Once per loop pass: position pushes, then one socket write per connection."""
        self._pass_scheduled = False
        if self._positions_flush_pending:
            self._flush_positions()
        sessions, self._flush_sessions = self._flush_sessions, []
        for session in sessions:
            session.flush()

    def _flush_positions(self) -> None:
        """Positions and portfolio go out once per loop pass, however many fills it held."""
        self._positions_flush_pending = False
        quantities, self._dirty_quantities = self._dirty_quantities, {}
        marks, self._dirty_marks = self._dirty_marks, {}
        for account_id in quantities.keys() | marks.keys():
            account = self.broker.accounts[account_id]
            changed = quantities.get(account_id, set())
            for session in list(self.sessions.values()):
                session.push_positions(account, changed, marks.get(account_id, set()) - changed)

    def _flush_values(self) -> None:
        """Account values are batched over a short interval, as TWS batches them (more slowly)."""
        self._values_flush_pending = False
        dirty, self._dirty_values = self._dirty_values, set()
        for account_id in dirty:
            account = self.broker.accounts[account_id]
            values = account.values()
            for session in list(self.sessions.values()):
                session.push_values(account, values)
                market_data.push_pnl(session, account)
