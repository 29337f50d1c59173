"""Order impact, placement, fills and cancels: the simulated brokerage's trading desk.

Fill policy "auto" (the default): Market fills at once at the symbol price; a Limit BUY
fills if price <= limit (SELL mirrored) and otherwise rests ACCEPTED; Stop and StopLimit
rest until the price crosses the stop (checked at placement and on every set_price).
IOC/FOK orders that cannot fill at once are CANCELED. Other policies let tests hold
every order at PENDING or ACCEPTED, or have the broker answer REJECTED.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from .errors import (
    CODE_DUPLICATE_CLIENT_ORDER_ID,
    CODE_INSUFFICIENT_FUNDS,
    CODE_INSUFFICIENT_POSITION,
    CODE_ORDER_FINAL,
    CODE_TRADE_EXPIRED,
    CODE_TRADE_NOT_FOUND,
    CODE_TRADE_USED,
    CODE_TRADING_NOT_ALLOWED,
    ApiError,
    bad_request,
    not_found,
)
from .models import (
    CANCEL_LIKE_STATUSES,
    FINAL_STATUSES,
    JSON,
    ORDER_STATUSES,
    Account,
    Order,
    Position,
    Trade,
    currency_json,
    dfloat,
)
from .order_form import UNIT_STEP, order_form
from .state import ZERO, SimState

FILL_POLICIES = ("auto", "accept", "pending", "reject")
CANCEL_POLICIES = ("immediate", "pending")


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


class SimBroker(SimState):
    """SimState plus the trading operations (all under the state lock)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fill_policy = "auto"
        self.cancel_policy = "immediate"
        self.commission = ZERO  # flat fee per order, charged on its first fill
        self.trade_ttl_seconds = 300.0
        self.placed_order_count = 0
        self._client_order_ids: set[tuple[str, str]] = set()

    def _check_trading_allowed(self, acct: Account) -> None:
        auth = self.authorizations[acct.authorization_id]
        if not acct.trading_allowed or auth.type != "trade" or auth.disabled:
            raise ApiError(403, f"Trading is not allowed for account {acct.id}", CODE_TRADING_NOT_ALLOWED)

    def _expected_price(self, form: JSON) -> Decimal:
        market = self.symbols[form["symbol_id"]].price
        if form["price"] is not None:
            return Decimal(form["price"])
        if form["stop"] is not None:
            return max(Decimal(form["stop"]), market)
        return market

    def _check_funds(self, form: JSON) -> Decimal:
        """Reject a BUY over buying power or a SELL over sellable units; return the cost."""
        acct = self.accounts[form["account_id"]]
        units: Decimal = form["units"]
        value = units * self._expected_price(form)
        if form["action"] == "BUY":
            available = self.buying_power(acct.id)
            if value + self.commission > available:
                raise bad_request(
                    f"Insufficient buying power: order needs {_money(value + self.commission)} "
                    f"{acct.currency} but only {_money(available)} {acct.currency} is available",
                    CODE_INSUFFICIENT_FUNDS,
                )
        else:
            sellable = self.sellable_units(acct.id, form["symbol_id"])
            if units > sellable:
                ticker = self.symbols[form["symbol_id"]].ticker
                raise bad_request(
                    f"Insufficient position: cannot sell {units} {ticker}, only {sellable} available",
                    CODE_INSUFFICIENT_POSITION,
                )
        return value

    # ------------------------------------------------------------- endpoints
    def impact(self, user_id: str, body: JSON) -> JSON:
        """POST /trade/impact: validate, price, and store a single-use trade."""
        with self.lock:
            form = order_form(self, user_id, body, force=False)
            acct = self.accounts[form["account_id"]]
            self._check_trading_allowed(acct)
            value = self._check_funds(form)
            sym = self.symbols[form["symbol_id"]]
            trade = Trade(str(uuid.uuid4()), user_id, acct.id, form, self.now())
            self.trades[trade.id] = trade
            sign = -1 if form["action"] == "BUY" else 1
            remaining = acct.cash + sign * value - self.commission
            return {
                "trade": {
                    "id": trade.id,
                    "account": acct.id,
                    "order_type": form["order_type"],
                    "time_in_force": form["time_in_force"],
                    "action": form["action"],
                    "units": dfloat(form["units"]),
                    "price": dfloat(self._expected_price(form)),
                    "symbol": {
                        "universal_symbol_id": sym.id,
                        "currency": currency_json(sym.currency),
                        "symbol": sym.ticker,
                        "description": sym.description,
                        "local_id": sym.id,
                        "brokerage_symbol_id": sym.id,
                    },
                },
                "trade_impacts": [{
                    "account": acct.id,
                    "currency": currency_json(acct.currency)["id"],
                    "remaining_cash": dfloat(remaining),
                    "estimated_commission": dfloat(self.commission),
                    "forex_fees": 0.0,
                }],
                "combined_remaining_balance": {
                    "account": {"id": acct.id, "name": acct.name, "number": acct.number},
                    "currency": currency_json(acct.currency),
                    "cash": dfloat(remaining),
                },
            }

    def place_trade(self, user_id: str, trade_id: str) -> JSON:
        """POST /trade/{tradeId}: a trade id is good for one attempt within the TTL."""
        with self.lock:
            trade = self.trades.get(trade_id)
            if trade is None or trade.user_id != user_id:
                raise bad_request(f"Trade {trade_id} not found", CODE_TRADE_NOT_FOUND)
            if trade.used:
                raise bad_request(f"Trade {trade_id} has already been used", CODE_TRADE_USED)
            age = self.now() - trade.created
            if age > self.trade_ttl_seconds:
                raise bad_request(
                    f"Trade {trade_id} has expired ({age:.0f} s old; trades expire after "
                    f"{self.trade_ttl_seconds:.0f} s)",
                    CODE_TRADE_EXPIRED,
                )
            trade.used = True  # consumed by the attempt, even if the broker then refuses it
            return self._place(trade.form, trade_id=trade.id)

    def place_force(self, user_id: str, body: JSON) -> JSON:
        """POST /trade/place: place without an impact check."""
        with self.lock:
            form = order_form(self, user_id, body, force=True)
            cid = form["client_order_id"]
            if cid is not None:
                key = (form["account_id"], str(cid))
                if key in self._client_order_ids:
                    raise bad_request(
                        f"Duplicate client_order_id {cid}", CODE_DUPLICATE_CLIENT_ORDER_ID
                    )
            return self._place(form)

    def _place(self, form: JSON, trade_id: str | None = None) -> JSON:
        acct = self.accounts[form["account_id"]]
        self._check_trading_allowed(acct)
        self._check_funds(form)
        now = self.now()
        order = Order(
            brokerage_order_id=str(uuid.uuid4()),
            account_id=acct.id,
            symbol_id=form["symbol_id"],
            action=form["action"],
            order_type=form["order_type"],
            time_in_force=form["time_in_force"],
            total=form["units"],
            limit_price=form["price"],
            stop_price=form["stop"],
            status="PENDING" if self.fill_policy == "pending" else "ACCEPTED",
            placed_at=now,
            updated_at=now,
            client_order_id=None if form["client_order_id"] is None else str(form["client_order_id"]),
            trade_id=trade_id,
            expiry_date=form["expiry_date"],
        )
        self.orders[order.brokerage_order_id] = order
        self.placed_order_count += 1
        if order.client_order_id is not None:
            self._client_order_ids.add((acct.id, order.client_order_id))
        if self.fill_policy == "reject":
            self._close(order, "REJECTED")
        elif self.fill_policy == "auto":
            self._evaluate(order)
            if order.time_in_force in ("IOC", "FOK") and order.status not in FINAL_STATUSES:
                self._close(order, "CANCELED")
        return order.to_json(self.symbols[order.symbol_id])

    def cancel(self, user_id: str, account_id: str, body: JSON) -> JSON:
        """POST /accounts/{id}/trading/cancel: 404 unknown, 400 already final."""
        with self.lock:
            acct = self.user_account(user_id, account_id)
            oid = str(body.get("brokerage_order_id") or "")
            order = self.orders.get(oid)
            if order is None or order.account_id != acct.id:
                raise not_found(f"Order {oid} not found")
            if order.status in FINAL_STATUSES:
                raise bad_request(
                    f"Order {oid} is already {order.status} and cannot be canceled", CODE_ORDER_FINAL
                )
            if self.cancel_policy == "pending":
                order.status = "CANCEL_PENDING"
                order.updated_at = self.now()
            else:
                self._close(order, "CANCELED")
            return {"brokerage_order_id": oid, "raw_response": {}}

    # ----------------------------------------------------------- lifecycle
    def _close(self, order: Order, status: str) -> None:
        """Take the open quantity off the book and set a final non-executed status."""
        order.canceled = order.total - order.filled
        order.status = status
        order.updated_at = self.now()

    def _evaluate(self, order: Order) -> None:
        """Fill a resting order if the current price makes it marketable."""
        if order.status in FINAL_STATUSES or order.status == "CANCEL_PENDING":
            return
        price = self.symbols[order.symbol_id].price
        buy = order.action.startswith("BUY")
        if order.stop_price is not None and not order.triggered:
            if not (price >= order.stop_price if buy else price <= order.stop_price):
                return
            order.triggered = True
            order.updated_at = self.now()
        if order.limit_price is not None and not (
            price <= order.limit_price if buy else price >= order.limit_price
        ):
            return
        self._apply_fill(order, order.open_quantity, price)

    def _apply_fill(self, order: Order, quantity: Decimal, price: Decimal) -> None:
        """Book a fill: move cash and position, update quantities and status."""
        acct = self.accounts[order.account_id]
        commission = ZERO if order.commission_charged else self.commission
        order.commission_charged = True
        value = quantity * price
        positions = self.positions[acct.id]
        pos = positions.get(order.symbol_id)
        if order.action.startswith("BUY"):
            acct.cash -= value + commission
            if pos is None:
                positions[order.symbol_id] = Position(quantity, price)
            else:
                new_units = pos.units + quantity
                if new_units == 0:
                    del positions[order.symbol_id]
                else:
                    if pos.units > 0:
                        pos.cost_basis = ((pos.units * pos.cost_basis + value) / new_units).quantize(UNIT_STEP)
                    pos.units = new_units
        else:
            acct.cash += value - commission
            if pos is None:
                positions[order.symbol_id] = Position(-quantity, price)
            else:
                pos.units -= quantity
                if pos.units == 0:
                    del positions[order.symbol_id]
        now = self.now()
        order.filled += quantity
        order.notional += value
        order.updated_at = now
        order.executed_at = now
        order.status = "EXECUTED" if order.open_quantity == 0 else "PARTIAL"

    # -------------------------------------------------------- test controls
    def fill(self, brokerage_order_id: str, quantity: Decimal | None, price: Decimal | None) -> None:
        with self.lock:
            order = self.order(brokerage_order_id)
            if order.status in FINAL_STATUSES:
                raise ValueError(f"order {brokerage_order_id} is already {order.status}")
            qty = order.open_quantity if quantity is None else quantity
            if qty <= 0 or qty > order.open_quantity:
                raise ValueError(f"fill quantity {qty} must be in (0, {order.open_quantity}]")
            self._apply_fill(order, qty, self.symbols[order.symbol_id].price if price is None else price)

    def set_order_status(self, brokerage_order_id: str, status: str) -> None:
        """EXECUTED fills the rest at market; cancel-like finals close the open quantity."""
        if status not in ORDER_STATUSES:
            raise ValueError(f"unknown order status {status!r}")
        with self.lock:
            order = self.order(brokerage_order_id)
            if status == "EXECUTED":
                if order.open_quantity > 0 and order.status not in FINAL_STATUSES:
                    self._apply_fill(order, order.open_quantity, self.symbols[order.symbol_id].price)
                order.status = "EXECUTED"
            elif status in CANCEL_LIKE_STATUSES:
                self._close(order, status)
            else:
                order.status = status
            order.updated_at = self.now()

    def late_fill(self, brokerage_order_id: str, quantity: Decimal | None, price: Decimal | None) -> None:
        """A fill reported on an order the brokerage had shown final (rejected, canceled): it was not."""
        with self.lock:
            order = self.order(brokerage_order_id)
            order.canceled = ZERO
            order.status = "ACCEPTED"
            qty = order.open_quantity if quantity is None else quantity
            self._apply_fill(order, qty, self.symbols[order.symbol_id].price if price is None else price)

    def set_order_quantity(self, brokerage_order_id: str, total: Decimal) -> None:
        """The account holder edits the order's quantity in the brokerage's own app."""
        with self.lock:
            order = self.order(brokerage_order_id)
            if total <= order.filled:
                raise ValueError(f"new quantity {total} must exceed the filled {order.filled}")
            order.total = total
            order.updated_at = self.now()

    def set_order_hidden(self, brokerage_order_id: str, hidden: bool) -> None:
        with self.lock:
            self.order(brokerage_order_id).hidden = hidden

    def set_price(self, ticker: str, price: Decimal, bid: Decimal | None, ask: Decimal | None) -> None:
        with self.lock:
            sym = self.symbol_by_ticker(ticker)
            sym.price, sym.bid, sym.ask = price, bid, ask
            if self.fill_policy == "auto":
                for order in self.open_orders(symbol_id=sym.id):
                    self._evaluate(order)
