"""Broker state and trading rules: admission, matching, fills. No I/O here.

State lives for the simulator's lifetime (across connections and stop/start), which is what
lets a restarted client rebuild its trades. Matching is deterministic:

* MKT fills at once at the touch (ask to buy, bid to sell).
* LMT fills on arrival at the touch if marketable; a resting LMT fills at its limit price
  once the touch reaches it or the last trades through it.
* STP triggers when the last reaches the stop and then fills at the touch; STP LMT triggers
  the same way and then behaves as a LMT arriving at that moment.
* IOC cancels whatever does not fill on arrival; FOK also refuses partial fills.
* TRAIL / TRAIL LIMIT trail the last price, MOC / OPG wait for their auction (trailing.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from .accounts import Account, commission_for, mark_price
from .encode import MarginImpact
from .instruments import ContractQuery, Instrument, InstrumentBook
from .listings import to_usd
from .orders import ExecutionRecord, OrderRecord, OrderRequest
from .trailing import follow

ZERO = Decimal(0)
ORDER_TYPES = frozenset({"MKT", "LMT", "STP", "STP LMT", "TRAIL", "TRAIL LIMIT", "MOC"})
TIFS = frozenset({"DAY", "GTC", "IOC", "FOK", "OPG", "GTD"})
NO_SECURITY = "No security definition has been found for the request"
BAD_TICK = "The price does not conform to the minimum price variation for this contract."


class Refusal(Exception):
    """A request the gateway answers with an error message instead of an order."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def rejected(reason: str) -> Refusal:
    return Refusal(201, f"Order rejected - reason:{reason}")


@dataclass(frozen=True)
class FillPlan:
    quantity: Decimal
    price: Decimal


def set_prices(order: OrderRecord, req: OrderRequest) -> None:
    """The prices an order of this type keeps (a new order's and a modification's alike); a trailing stop
    restarts from its new distance."""
    trailing = req.order_type in ("TRAIL", "TRAIL LIMIT")
    order.lmt_price = req.lmt_price if req.order_type in ("LMT", "STP LMT") else None
    order.aux_price = req.aux_price if req.order_type in ("STP", "STP LMT") or trailing else None
    order.trailing_percent = req.trailing_percent if trailing else None
    order.trail_stop, order.lmt_price_offset = req.trail_stop_price, req.lmt_price_offset


def modify_refusal(order: OrderRecord, req: OrderRequest, inst: Instrument) -> Refusal | None:
    """What TWS answers a placeOrder that reuses a live order's id but cannot modify it."""
    if order.status == "Filled":
        return Refusal(104, "Can't modify a filled order.")
    if order.is_done:
        return Refusal(103, "Duplicate order id")
    if inst is not order.instrument or req.action != order.action:
        return Refusal(105, "Order being modified does not match original order.")
    return None


class Broker:
    def __init__(
        self,
        book: InstrumentBook,
        accounts: tuple[str, ...],
        starting_cash: Decimal,
        max_order_quantity: Decimal,
        perm_id_start: int,
        exec_id_prefix: str,
    ) -> None:
        self.book = book
        self.accounts = {a: Account(a, starting_cash) for a in accounts}
        self.max_order_quantity = max_order_quantity
        self.orders: list[OrderRecord] = []
        self.by_key: dict[tuple[int, int], OrderRecord] = {}
        self.executions: list[ExecutionRecord] = []
        self.placed_count = 0
        self.modification_count = 0
        self._next_perm_id = perm_id_start
        self._exec_prefix = exec_id_prefix
        self._exec_seq = 0
        self._next_ids: dict[int, int] = {}

    # -- ids ---------------------------------------------------------------
    def next_order_id(self, client_id: int) -> int:
        return self._next_ids.get(client_id, 1)

    def note_order_id(self, client_id: int, order_id: int) -> None:
        if order_id >= self._next_ids.get(client_id, 1):
            self._next_ids[client_id] = order_id + 1

    # -- admission ---------------------------------------------------------
    def resolve(self, query: ContractQuery) -> Instrument:
        matches = self.book.match(query)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise Refusal(200, NO_SECURITY)
        raise Refusal(200, f"The contract description specified for {query.describe()} is ambiguous.")

    def account_for(self, requested: str) -> Account:
        if not requested:
            if len(self.accounts) == 1:
                return next(iter(self.accounts.values()))
            raise rejected("An account must be specified when several accounts are managed.")
        account = self.accounts.get(requested)
        if account is None:
            raise rejected(f"The account {requested} is not managed by this login.")
        return account

    def validate(self, req: OrderRequest, inst: Instrument) -> Decimal:
        """Check an order's own fields; return its quantity or raise a Refusal."""
        if not inst.tradable:
            raise rejected(f"{inst.symbol} {inst.sec_type} is not a tradable contract.")
        if req.order_type not in ORDER_TYPES:
            raise rejected(f"Order type {req.order_type or '(none)'} is not supported by this gateway.")
        if req.action not in ("BUY", "SELL"):
            raise rejected(f"Invalid action {req.action or '(none)'}.")
        if req.tif not in TIFS:
            raise rejected(f"Invalid time in force {req.tif}.")
        qty = req.quantity
        if qty is None or qty <= 0:
            raise rejected("The order size must be positive.")
        if qty != qty.to_integral_value():
            raise rejected("Fractional-sized orders are not supported for this contract.")
        if qty > self.max_order_quantity:
            raise rejected(
                f"Order size {qty.normalize():f} exceeds the maximum order size "
                f"{self.max_order_quantity.normalize():f}."
            )
        needs_limit = req.order_type in ("LMT", "STP LMT")
        needs_stop = req.order_type in ("STP", "STP LMT")
        if needs_limit and (req.lmt_price is None or req.lmt_price <= 0):
            raise rejected("A positive limit price is required.")
        if needs_stop and (req.aux_price is None or req.aux_price <= 0):
            raise rejected("A positive stop price is required.")
        for price in (req.lmt_price if needs_limit else None, req.aux_price if needs_stop else None):
            if price is not None and price % inst.min_tick != 0:
                raise Refusal(110, BAD_TICK)
        self._validate_special(req)
        return qty

    @staticmethod
    def _validate_special(req: OrderRequest) -> None:
        """Trailing distances and auction time-in-force rules."""
        if req.order_type in ("TRAIL", "TRAIL LIMIT"):
            percent = req.trailing_percent
            if (req.aux_price is None) == (percent is None):
                raise rejected("A trailing order needs a trailing amount (auxPrice) or a trailing percent, not both.")
            if (req.aux_price is not None and req.aux_price <= 0) or (percent is not None and not 0 < percent < 100):
                raise rejected("The trailing amount must be positive and the trailing percent between 0 and 100.")
            if req.order_type == "TRAIL LIMIT" and req.lmt_price_offset is None:
                raise rejected("A trailing stop limit order needs a limit price offset.")
        if req.order_type == "MOC" and req.tif != "DAY":
            raise Refusal(113, "The Tif option should be set to DAY for MOC and LOC orders.")
        if req.tif == "OPG" and req.order_type not in ("MKT", "LMT"):
            raise Refusal(111, "The TIF (OPG) and the order type are incompatible.")

    def reference_price(self, action: str, order_type: str, lmt: Decimal | None, aux: Decimal | None,
                        inst: Instrument) -> Decimal:
        if order_type in ("LMT", "STP LMT") and lmt is not None:
            return lmt
        if order_type == "STP" and aux is not None:
            return aux
        touch = inst.quote.ask if action == "BUY" else inst.quote.bid
        return touch if touch is not None else mark_price(inst)

    def impact(self, account: Account, inst: Instrument, signed_qty: Decimal, price: Decimal) -> MarginImpact:
        commission = commission_for(inst, abs(signed_qty), abs(signed_qty) * price * inst.mult)
        before = account.metrics()
        after = account.metrics(extra=(inst, signed_qty), extra_cost=to_usd(inst, commission))
        return MarginImpact(
            before.init_margin, before.maint_margin, before.equity_with_loan,
            after.init_margin, after.maint_margin, after.equity_with_loan, commission, inst.currency,
        )

    def check_funds(self, impact: MarginImpact) -> None:
        if impact.init_after > impact.init_before and impact.init_after > impact.ewl_after:
            raise rejected(
                "YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH "
                f"LOAN VALUE [{impact.ewl_after:.2f} USD] MUST EXCEED THE INITIAL MARGIN "
                f"[{impact.init_after:.2f} USD]"
            )

    def new_record(self, req: OrderRequest, inst: Instrument, client_id: int, account: str,
                   quantity: Decimal, assign_perm_id: bool = True) -> OrderRecord:
        order = OrderRecord(
            order_id=req.order_id, client_id=client_id,
            perm_id=self._next_perm_id if assign_perm_id else 0, account=account,
            instrument=inst, action=req.action, quantity=quantity, order_type=req.order_type,
            lmt_price=None, aux_price=None, tif=req.tif, order_ref=req.order_ref, outside_rth=req.outside_rth,
            oca_group=req.oca_group, oca_type=req.oca_type, parent_id=req.parent_id, transmitted=req.transmit,
        )
        set_prices(order, req)
        if assign_perm_id:
            self._next_perm_id += 1
        return order

    def record(self, order: OrderRecord, accepted: bool) -> None:
        self.orders.append(order)
        self.by_key[(order.client_id, order.order_id)] = order
        if accepted:
            self.placed_count += 1

    def modify(self, order: OrderRecord, req: OrderRequest, quantity: Decimal) -> None:
        if quantity < order.filled:
            raise rejected("The new order size is below the filled quantity.")
        order.quantity = quantity
        order.order_type = req.order_type
        set_prices(order, req)
        order.tif = req.tif
        order.order_ref = req.order_ref or order.order_ref
        self.modification_count += 1

    # -- lifecycle ---------------------------------------------------------
    def activate(self, order: OrderRecord) -> None:
        order.status = "PreSubmitted" if order.is_stop and not order.triggered else "Submitted"

    def plan(self, order: OrderRecord, arriving: bool) -> tuple[bool, FillPlan | None]:
        """(stop triggered just now, fill to make now or None)."""
        if not order.is_active or order.fill_pending or order.remaining <= 0 or order.held:
            return False, None
        quote = order.instrument.quote
        buy = order.action == "BUY"
        triggered_now = False
        if order.at_auction is not None:
            return False, None  # fills only in its auction (Gateway.auction)
        if order.is_trailing and not order.triggered:
            if not follow(order, quote.last):
                return False, None
            order.triggered = triggered_now = True
            order.status = "Submitted"
            arriving = True
        elif order.is_stop and not order.triggered:
            stop = order.aux_price
            last = quote.last
            if stop is None or last is None or (last < stop if buy else last > stop):
                return False, None
            order.triggered = triggered_now = True
            order.status = "Submitted"
            arriving = True
        touch = quote.ask if buy else quote.bid
        if order.order_type in ("MKT", "STP", "TRAIL"):
            return triggered_now, FillPlan(order.remaining, touch) if touch is not None else None
        limit = order.lmt_price
        if limit is None:  # validate() requires a limit for LMT and STP LMT; nothing to match without one
            return triggered_now, None
        if touch is not None and (touch <= limit if buy else touch >= limit):
            return triggered_now, FillPlan(order.remaining, touch if arriving else limit)
        last = quote.last
        if not arriving and last is not None and (last < limit if buy else last > limit):
            return triggered_now, FillPlan(order.remaining, limit)
        return triggered_now, None

    def execute(self, order: OrderRecord, quantity: Decimal, price: Decimal) -> ExecutionRecord:
        inst = order.instrument
        quantity = min(quantity, order.remaining)
        if quantity <= 0:
            raise ValueError(f"order {order.order_id} has nothing left to fill")
        filled = order.filled + quantity
        avg = (order.avg_fill_price * order.filled + price * quantity) / filled
        total_commission = commission_for(inst, filled, avg * filled * inst.mult)
        commission = max(total_commission - order.commission, ZERO)
        realized = self.accounts[order.account].apply_fill(inst, order.sign * quantity, price, commission)
        order.filled, order.avg_fill_price, order.last_fill_price = filled, avg, price
        order.commission += commission
        now = time.time()
        if order.remaining == 0:
            order.status = "Filled"
            order.completed_at = now
        self._exec_seq += 1
        execution = ExecutionRecord(
            exec_id=f"{self._exec_prefix}.{self._exec_seq:08x}.01.01", order=order, quantity=quantity,
            price=price, time=now, cum_qty=filled, avg_price=avg, commission=commission,
            realized_pnl=realized,
        )
        order.executions.append(execution)
        self.executions.append(execution)
        return execution

    def cancel(self, order: OrderRecord) -> None:
        order.status = "Cancelled"
        order.fill_pending = False
        order.completed_at = time.time()

    def resting(self, inst: Instrument | None = None) -> list[OrderRecord]:
        return [o for o in self.orders if o.is_active and (inst is None or o.instrument is inst)]

    def find_active(self, order_id: int, client_id: int | None = None) -> OrderRecord:
        """The live order with this id (any client unless given); ambiguity is an error."""
        if client_id is not None:
            order = self.by_key.get((client_id, order_id))
            candidates = [order] if order is not None and not order.is_done else []
        else:
            candidates = [o for o in self.orders if o.order_id == order_id and not o.is_done]
        if not candidates:
            raise KeyError(f"no live order with id {order_id}")
        if len(candidates) > 1:
            raise KeyError(f"order id {order_id} is live for several clients; pass client_id")
        return candidates[0]
