"""The simulated brokerage's data (users, connections, accounts, symbols, positions)
and the read-only views the API serves from it.

One re-entrant lock guards everything: HTTP handler threads and test controls share it.
Trading (impact, placement, fills) lives in `trading.py` on top of this class.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from .errors import CODE_AUTH_DISABLED, ApiError, bad_request, not_found
from .models import (
    EXECUTED_STATUSES,
    FINAL_STATUSES,
    JSON,
    Account,
    Authorization,
    Order,
    Position,
    Symbol,
    Trade,
    User,
    currency_json,
    derived_id,
    dfloat,
    dstr,
    iso,
)

ZERO = Decimal("0")
MAX_SEARCH_RESULTS = 20


def to_decimal(value: Decimal | float | int | str) -> Decimal:
    """Accept any numeric input from test code without float artefacts."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


class SimState:
    """Registry plus views; every public method takes the lock."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.lock = threading.RLock()
        self._base_clock: Callable[[], float] = clock or time.time
        self.clock_offset = 0.0
        self.users: dict[str, User] = {}
        self.authorizations: dict[str, Authorization] = {}
        self.accounts: dict[str, Account] = {}
        self.symbols: dict[str, Symbol] = {}
        self.tickers: dict[str, str] = {}  # upper-case ticker -> symbol id
        self.positions: dict[str, dict[str, Position]] = {}
        self.orders: dict[str, Order] = {}  # brokerage_order_id -> order (insertion = placement order)
        self.trades: dict[str, Trade] = {}

    # ----------------------------------------------------------------- clock
    def now(self) -> float:
        """The injectable trade clock (seconds since the epoch)."""
        return self._base_clock() + self.clock_offset

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    # --------------------------------------------------------------- seeding
    def add_user(self, user_id: str, user_secret: str) -> None:
        with self.lock:
            self.users[user_id] = User(user_id, user_secret)

    def add_account(
        self,
        user_id: str,
        name: str,
        number: str,
        cash: Decimal,
        currency: str,
        institution: str,
        is_paper: bool,
        account_id: str | None = None,
    ) -> str:
        with self.lock:
            if user_id not in self.users:
                raise KeyError(f"unknown user {user_id!r}: call add_user first")
            auth = next(
                (a for a in self.authorizations.values()
                 if a.user_id == user_id and a.institution == institution),
                None,
            )
            if auth is None:
                auth = Authorization(derived_id("authorization", f"{user_id}:{institution}"), user_id, institution)
                self.authorizations[auth.id] = auth
            acct_id = str(uuid.UUID(account_id)) if account_id else str(uuid.uuid4())
            self.accounts[acct_id] = Account(
                acct_id, user_id, auth.id, name, number, cash, currency, institution, is_paper
            )
            self.positions.setdefault(acct_id, {})
            return acct_id

    def add_symbol(
        self,
        ticker: str,
        price: Decimal,
        description: str,
        currency: str,
        exchange: str,
        security_type: str = "cs",
        symbol_id: str | None = None,
    ) -> str:
        with self.lock:
            existing = self.tickers.get(ticker.upper())
            sym_id = existing or (str(uuid.UUID(symbol_id)) if symbol_id else str(uuid.uuid4()))
            self.symbols[sym_id] = Symbol(
                sym_id, ticker.upper(), price, description, currency, exchange, security_type
            )
            self.tickers[ticker.upper()] = sym_id
            return sym_id

    def set_position(self, account_id: str, ticker: str, units: Decimal, cost_basis: Decimal) -> None:
        with self.lock:
            self.account(account_id)
            sym = self.symbol_by_ticker(ticker)
            if units == 0:
                self.positions[account_id].pop(sym.id, None)
            else:
                self.positions[account_id][sym.id] = Position(units, cost_basis)

    # --------------------------------------------------------------- lookups
    def account(self, account_id: str) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise KeyError(f"unknown account {account_id!r}") from None

    def symbol_by_ticker(self, ticker: str) -> Symbol:
        sym_id = self.tickers.get(ticker.upper())
        if sym_id is None:
            raise KeyError(f"unknown symbol {ticker!r}")
        return self.symbols[sym_id]

    def order(self, brokerage_order_id: str) -> Order:
        try:
            return self.orders[brokerage_order_id]
        except KeyError:
            raise KeyError(f"unknown order {brokerage_order_id!r}") from None

    def check_user(self, user_id: str | None, user_secret: str | None) -> bool:
        with self.lock:
            user = self.users.get(user_id or "")
            return user is not None and user_secret is not None and user.user_secret == user_secret

    def user_account(self, user_id: str, account_id: str) -> Account:
        """The caller's account, or 404 (another user's account is not disclosed)."""
        acct = self.accounts.get(account_id)
        if acct is None or acct.user_id != user_id:
            raise not_found(f"Account {account_id} not found")
        return acct

    # ----------------------------------------------------------- derivations
    def market_value(self, account_id: str) -> Decimal:
        return sum(
            (p.units * self.symbols[s].price for s, p in self.positions[account_id].items()), ZERO
        )

    def held_units(self, account_id: str, symbol_id: str) -> Decimal:
        pos = self.positions[account_id].get(symbol_id)
        return pos.units if pos else ZERO

    def open_orders(self, account_id: str | None = None, symbol_id: str | None = None) -> list[Order]:
        return [
            o for o in self.orders.values()
            if o.status not in FINAL_STATUSES
            and (account_id is None or o.account_id == account_id)
            and (symbol_id is None or o.symbol_id == symbol_id)
        ]

    def reference_price(self, order: Order) -> Decimal:
        """Price a resting order is expected to execute at (for reservations)."""
        price = self.symbols[order.symbol_id].price
        if order.limit_price is not None:
            return order.limit_price
        if order.stop_price is not None:
            return max(order.stop_price, price)
        return price

    def buying_power(self, account_id: str) -> Decimal:
        """Cash less what open BUY orders have reserved."""
        acct = self.accounts[account_id]
        reserved = sum(
            (o.open_quantity * self.reference_price(o)
             for o in self.open_orders(account_id) if o.action.startswith("BUY")),
            ZERO,
        )
        return acct.cash - reserved

    def sellable_units(self, account_id: str, symbol_id: str) -> Decimal:
        """Units held less what open SELL orders have reserved."""
        reserved = sum(
            (o.open_quantity for o in self.open_orders(account_id, symbol_id)
             if o.action.startswith("SELL")),
            ZERO,
        )
        return self.held_units(account_id, symbol_id) - reserved

    # ----------------------------------------------------------------- views
    def accounts_json(self, user_id: str) -> list[JSON]:
        with self.lock:
            return [
                a.to_json(a.cash + self.market_value(a.id))
                for a in self.accounts.values() if a.user_id == user_id
            ]

    def account_json(self, user_id: str, account_id: str) -> JSON:
        with self.lock:
            acct = self.user_account(user_id, account_id)
            return acct.to_json(acct.cash + self.market_value(acct.id))

    def all_accounts_json(self, user_id: str) -> JSON:
        with self.lock:
            return {
                "results": [
                    a.to_connection_json(a.cash + self.market_value(a.id))
                    for a in self.accounts.values() if a.user_id == user_id
                ]
            }

    def balances_json(self, user_id: str, account_id: str) -> list[JSON]:
        with self.lock:
            acct = self.user_account(user_id, account_id)
            return [{
                "currency": currency_json(acct.currency),
                "cash": dfloat(acct.cash),
                "buying_power": dfloat(self.buying_power(acct.id)),
            }]

    def positions_json(self, user_id: str, account_id: str) -> JSON:
        """GET /accounts/{id}/positions/all: numbers are strings here."""
        with self.lock:
            acct = self.user_account(user_id, account_id)
            results = []
            for sym_id, pos in self.positions[acct.id].items():
                sym = self.symbols[sym_id]
                results.append({
                    "instrument": {
                        "kind": "stock",
                        "id": sym.id,
                        "symbol": sym.ticker,
                        "raw_symbol": sym.ticker,
                        "description": sym.description,
                        "currency": sym.currency,
                        "exchange": sym.exchange,
                        "figi_instrument": None,
                    },
                    "units": dstr(pos.units),
                    "price": dstr(sym.price),
                    "cost_basis": dstr(pos.cost_basis),
                    "currency": sym.currency,
                    "cash_equivalent": False,
                })
            return {"results": results, "data_freshness": {"as_of": iso(datetime.now(UTC))}}

    def holdings_json(self, user_id: str, account_id: str) -> JSON:
        """GET /accounts/{id}/holdings (deprecated in the SDK, served for completeness)."""
        with self.lock:
            acct = self.user_account(user_id, account_id)
            positions = []
            for sym_id, pos in self.positions[acct.id].items():
                sym = self.symbols[sym_id]
                positions.append({
                    "symbol": {"symbol": sym.to_json(), "id": sym.id, "description": sym.description,
                               "local_id": sym.id, "is_quotable": True, "is_tradable": True},
                    "units": dfloat(pos.units),
                    "price": dfloat(sym.price),
                    "open_pnl": dfloat((sym.price - pos.cost_basis) * pos.units),
                    "average_purchase_price": dfloat(pos.cost_basis),
                    "fractional_units": dfloat(pos.units),
                    "currency": currency_json(sym.currency),
                    "cash_equivalent": False,
                })
            total = acct.cash + self.market_value(acct.id)
            return {
                "account": acct.to_json(total),
                "balances": self.balances_json(user_id, account_id),
                "positions": positions,
                "option_positions": [],
                "orders": self.orders_json(user_id, account_id, "all", 30),
                "total_value": {"value": dfloat(total), "currency": acct.currency},
            }

    def orders_json(self, user_id: str, account_id: str, state: str, days: int) -> list[JSON]:
        """Newest first; `open` = not final, `executed` = EXECUTED/PARTIAL_CANCELED."""
        if state not in ("all", "open", "executed"):
            raise bad_request(f"Invalid state {state!r}: expected all, open or executed")
        if days < 1:
            raise bad_request("days must be a positive integer")
        with self.lock:
            acct = self.user_account(user_id, account_id)
            since = self.now() - days * 86400
            out = []
            for o in reversed(self.orders.values()):
                if o.account_id != acct.id or o.placed_at < since or o.hidden:
                    continue
                if state == "open" and o.status in FINAL_STATUSES:
                    continue
                if state == "executed" and o.status not in EXECUTED_STATUSES:
                    continue
                out.append(o.to_json(self.symbols[o.symbol_id]))
            return out

    def order_json(self, user_id: str, account_id: str, brokerage_order_id: str) -> JSON:
        with self.lock:
            acct = self.user_account(user_id, account_id)
            order = self.orders.get(brokerage_order_id)
            if order is None or order.account_id != acct.id or order.hidden:
                raise not_found(f"Order {brokerage_order_id} not found")
            return order.to_json(self.symbols[order.symbol_id])

    def search_json(self, user_id: str, account_id: str, substring: str) -> list[JSON]:
        """Exact ticker first, then ticker prefix, then description matches; at most 20."""
        with self.lock:
            self.user_account(user_id, account_id)
            needle = substring.strip().upper()
            if not needle:
                return []

            def rank(sym: Symbol) -> int | None:
                if sym.ticker == needle:
                    return 0
                if sym.ticker.startswith(needle):
                    return 1
                if needle in sym.ticker or needle in sym.description.upper():
                    return 2
                return None

            ranked = sorted(
                ((r, s.ticker, s) for s in self.symbols.values() if (r := rank(s)) is not None),
                key=lambda t: (t[0], t[1]),
            )
            return [s.to_json() for _, _, s in ranked[:MAX_SEARCH_RESULTS]]

    def quotes_json(self, user_id: str, account_id: str, symbols: str, use_ticker: bool) -> list[JSON]:
        """Comma-separated tickers (use_ticker) or universal symbol ids; unknown ones are omitted."""
        with self.lock:
            self.user_account(user_id, account_id)
            out = []
            for raw in symbols.split(","):
                key = raw.strip()
                sym_id = self.tickers.get(key.upper()) if use_ticker else key
                sym = self.symbols.get(sym_id or "")
                if sym is None:
                    continue
                out.append({
                    "symbol": sym.to_json(),
                    "last_trade_price": dfloat(sym.price),
                    "bid_price": dfloat(sym.bid_price()),
                    "ask_price": dfloat(sym.ask_price()),
                    "bid_size": 100,
                    "ask_size": 100,
                })
            return out

    def authorizations_json(self, user_id: str) -> list[JSON]:
        with self.lock:
            return [a.to_json() for a in self.authorizations.values() if a.user_id == user_id]

    def refresh(self, user_id: str, authorization_id: str) -> JSON:
        with self.lock:
            auth = self.authorizations.get(authorization_id)
            if auth is None or auth.user_id != user_id:
                raise not_found(f"Connection {authorization_id} not found")
            if auth.disabled:
                raise ApiError(402, "Connection is disabled and cannot be refreshed", CODE_AUTH_DISABLED)
            auth.refresh_count += 1
            return {"detail": "Connection scheduled for refresh"}
