"""SnapTradeSimulator: the HTTP server plus the Python controls tests and the demo use.

The unmodified snaptrade-python-sdk talks to it when its host is `sim.base_url`
(127.0.0.1, never `localhost`: the SDK's host check rejects that name).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from .faults import Fault, FaultQueue, Holds, LoggedRequest, RequestLog
from .handlers import SimHTTPServer
from .models import NAMESPACE, dstr
from .state import to_decimal
from .trading import CANCEL_POLICIES, FILL_POLICIES, SimBroker

Number = Decimal | float | int | str

DEMO_USER_ID = "demo-user"
DEMO_USER_SECRET = "demo-secret"  # noqa: S105 - a published demo credential of the simulator
DEMO_SYMBOLS: list[tuple[str, str, str, str, str]] = [
    # ticker, price, description, exchange, security type
    ("AAPL", "190.00", "Apple Inc.", "NASDAQ", "cs"),
    ("MSFT", "420.00", "Microsoft Corporation", "NASDAQ", "cs"),
    ("SPY", "510.00", "SPDR S&P 500 ETF Trust", "ARCA", "et"),
    ("QQQ", "440.00", "Invesco QQQ Trust", "NASDAQ", "et"),
    ("TSLA", "250.00", "Tesla, Inc.", "NASDAQ", "cs"),
    ("NVDA", "900.00", "NVIDIA Corporation", "NASDAQ", "cs"),
    ("AMZN", "180.00", "Amazon.com, Inc.", "NASDAQ", "cs"),
    ("GOOGL", "170.00", "Alphabet Inc. Class A", "NASDAQ", "cs"),
    ("VTI", "250.00", "Vanguard Total Stock Market ETF", "ARCA", "et"),
]


def _demo_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"demo:{name}"))


class SnapTradeSimulator:
    """A stateful SnapTrade API on 127.0.0.1 with test controls. Thread-safe."""

    def __init__(
        self,
        client_id: str = "TRADEEXEC-TEST",
        consumer_key: str = "test-consumer-key",
        check_signatures: bool = True,
        check_timestamp: bool = True,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.client_id = client_id
        self.consumer_key = consumer_key
        self.check_signatures = check_signatures
        self.check_timestamp = check_timestamp
        self.broker = SimBroker(clock=clock)
        self.faults = FaultQueue()
        self.holds = Holds()
        self.log = RequestLog()
        self.stopping = threading.Event()
        self._host = host
        self._port = port
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> SnapTradeSimulator:
        """Bind and serve on a daemon thread; the socket is listening when this returns."""
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = SimHTTPServer((self._host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"snaptrade-sim-{self._port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests are released and open connections closed."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SnapTradeSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator is not running: call start() first")
        return f"http://{self._host}:{self._port}"

    # --------------------------------------------------------------- seeding
    def add_user(self, user_id: str, user_secret: str) -> None:
        self.broker.add_user(user_id, user_secret)

    def add_account(
        self,
        user_id: str,
        name: str = "Robinhood Individual",
        number: str = "RH-001",
        cash: Number = Decimal("100000"),
        currency: str = "USD",
        institution: str = "Robinhood",
        is_paper: bool = False,
        *,
        account_id: str | None = None,
    ) -> str:
        """Add an account (and its institution's connection); returns the account UUID."""
        return self.broker.add_account(
            user_id, name, number, to_decimal(cash), currency, institution, is_paper, account_id
        )

    def add_symbol(
        self,
        ticker: str,
        price: Number,
        description: str = "",
        currency: str = "USD",
        exchange: str = "NASDAQ",
        *,
        security_type: str = "cs",
        symbol_id: str | None = None,
    ) -> str:
        """Add (or re-price and re-describe) a symbol; returns its universal_symbol_id."""
        return self.broker.add_symbol(
            ticker, to_decimal(price), description or ticker, currency, exchange, security_type, symbol_id
        )

    def set_position(self, account_id: str, ticker: str, units: Number, cost_basis: Number) -> None:
        """Set a holding outright (units 0 removes it); cost_basis is per share."""
        self.broker.set_position(account_id, ticker, to_decimal(units), to_decimal(cost_basis))

    def set_cash(self, account_id: str, cash: Number) -> None:
        with self.broker.lock:
            self.broker.account(account_id).cash = to_decimal(cash)

    def seed_demo(self) -> dict[str, Any]:
        """A ready user, two accounts (one paper) and common symbols, with stable ids."""
        self.add_user(DEMO_USER_ID, DEMO_USER_SECRET)
        symbols = {
            t: self.add_symbol(t, p, d, "USD", ex, security_type=st, symbol_id=_demo_id(f"symbol:{t}"))
            for t, p, d, ex, st in DEMO_SYMBOLS
        }
        individual = self.add_account(
            DEMO_USER_ID, "Robinhood Individual", "RH-0001", Decimal("100000"), "USD", "Robinhood",
            False, account_id=_demo_id("account:individual"),
        )
        paper = self.add_account(
            DEMO_USER_ID, "Alpaca Paper", "PA-0002", Decimal("50000"), "USD", "Alpaca Paper",
            True, account_id=_demo_id("account:paper"),
        )
        self.set_position(individual, "AAPL", Decimal("10"), Decimal("150"))
        self.set_position(individual, "MSFT", Decimal("5"), Decimal("300"))
        self.set_position(paper, "SPY", Decimal("20"), Decimal("450"))
        return {
            "base_url": self.base_url if self._server is not None else None,
            "client_id": self.client_id,
            "consumer_key": self.consumer_key,
            "user_id": DEMO_USER_ID,
            "user_secret": DEMO_USER_SECRET,
            "accounts": {"individual": individual, "paper": paper},
            "account_ids": [individual, paper],
            "authorization_ids": sorted({self.authorization_id(individual), self.authorization_id(paper)}),
            "symbols": symbols,
        }

    # -------------------------------------------------------------- controls
    def set_price(self, ticker: str, price: Number, *, bid: Number | None = None,
                  ask: Number | None = None) -> None:
        """Move a price (bid/ask default to price -/+ 0.01); may fill resting orders."""
        self.broker.set_price(
            ticker, to_decimal(price),
            None if bid is None else to_decimal(bid), None if ask is None else to_decimal(ask),
        )

    def fill(self, brokerage_order_id: str, quantity: Number | None = None,
             price: Number | None = None) -> None:
        """Fill all of the open quantity, or part of it (status PARTIAL); moves cash and position."""
        self.broker.fill(
            brokerage_order_id,
            None if quantity is None else to_decimal(quantity),
            None if price is None else to_decimal(price),
        )

    def set_order_status(self, brokerage_order_id: str, status: str) -> None:
        """Force any of the 20 statuses (EXECUTED fills the rest; CANCELED-like close it)."""
        self.broker.set_order_status(brokerage_order_id, status)

    def late_fill(self, brokerage_order_id: str, quantity: Number | None = None, price: Number | None = None) -> None:
        """Report a fill on an order shown as final before (a rejection or cancel that was not one)."""
        self.broker.late_fill(
            brokerage_order_id,
            None if quantity is None else to_decimal(quantity),
            None if price is None else to_decimal(price),
        )

    def set_order_quantity(self, brokerage_order_id: str, total: Number) -> None:
        """The account holder changes the order's quantity in the brokerage's app."""
        self.broker.set_order_quantity(brokerage_order_id, to_decimal(total))

    def hide_order(self, brokerage_order_id: str, hidden: bool = True) -> None:
        """Leave the order out of the list and the detail endpoint (404), as a lagging or lossy brokerage does."""
        self.broker.set_order_hidden(brokerage_order_id, hidden)

    def advance_clock(self, seconds: float) -> None:
        """Move the trade clock (trade-id expiry, order times); auth uses the wall clock."""
        with self.broker.lock:
            self.broker.clock_offset += seconds

    def now(self) -> float:
        return self.broker.now()

    def set_trading_allowed(self, account_id: str, allowed: bool) -> None:
        """When False, impact and placement for the account answer 403."""
        with self.broker.lock:
            self.broker.account(account_id).trading_allowed = allowed

    def set_authorization_disabled(self, authorization_id: str, disabled: bool) -> None:
        with self.broker.lock:
            self.broker.authorizations[authorization_id].disabled = disabled

    def inject_fault(
        self,
        method: str | None = None,
        path_regex: str = ".*",
        status: int | None = 500,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        count: int = 1,
        hang_seconds: float | None = None,
        *,
        drop: bool = False,
        process: bool = False,
    ) -> Fault:
        """Queue a fault for requests whose method and path (no query) match.

        The first matching fault in FIFO order is used (count times). body defaults to the
        `{"detail","status_code","code"}` error for the status. hang_seconds sleeps before
        answering; drop closes the connection without an answer; process=True handles the
        request for real first (the order IS placed) and then hangs/drops/answers, with
        status=None meaning "send the real answer".
        """
        return self.faults.add(Fault(
            method=method, path_regex=path_regex, status=status, body=body,
            headers=dict(headers or {}), remaining=count, hang_seconds=hang_seconds,
            drop=drop, process=process,
        ))

    def hold(self, count: int, path_regex: str = ".*", method: str | None = None, timeout: float = 3.0) -> None:
        """Hold matching requests until `count` of them wait at once (then answer them all), or each for
        `timeout` seconds; with `max_in_flight`, shows which requests a client sends together."""
        self.holds.add(method, path_regex, count, timeout)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        return self.faults.pending()

    # ------------------------------------------------------------ inspection
    @property
    def requests(self) -> list[LoggedRequest]:
        """Snapshot of every request received, oldest first (userSecret redacted)."""
        return self.log.snapshot()

    def clear_requests(self) -> None:
        """Forget the requests so far; `max_in_flight` counts from now."""
        self.log.clear()

    @property
    def max_in_flight(self) -> int:
        """The most requests received and not yet answered at one time."""
        return self.log.max_in_flight

    def orders(self, account_id: str) -> list[dict[str, Any]]:
        """The account's AccountOrderRecords, oldest first (as the API would show them)."""
        with self.broker.lock:
            self.broker.account(account_id)
            return [o.to_json(self.broker.symbols[o.symbol_id])
                    for o in self.broker.orders.values() if o.account_id == account_id]

    def order(self, brokerage_order_id: str) -> dict[str, Any]:
        with self.broker.lock:
            o = self.broker.order(brokerage_order_id)
            return o.to_json(self.broker.symbols[o.symbol_id])

    @property
    def placed_order_count(self) -> int:
        """Orders created through POST /trade/{id} and POST /trade/place."""
        return self.broker.placed_order_count

    def cash(self, account_id: str) -> Decimal:
        with self.broker.lock:
            return self.broker.account(account_id).cash

    def position(self, account_id: str, ticker: str) -> Decimal:
        """Units held (0 when flat)."""
        with self.broker.lock:
            self.broker.account(account_id)
            return self.broker.held_units(account_id, self.broker.symbol_by_ticker(ticker).id)

    def positions(self, account_id: str) -> dict[str, Decimal]:
        with self.broker.lock:
            self.broker.account(account_id)
            return {self.broker.symbols[s].ticker: p.units
                    for s, p in self.broker.positions[account_id].items()}

    def symbol_id(self, ticker: str) -> str:
        with self.broker.lock:
            return self.broker.symbol_by_ticker(ticker).id

    def price(self, ticker: str) -> Decimal:
        with self.broker.lock:
            return self.broker.symbol_by_ticker(ticker).price

    def authorization_id(self, account_id: str) -> str:
        with self.broker.lock:
            return self.broker.account(account_id).authorization_id

    def refresh_count(self, authorization_id: str) -> int:
        with self.broker.lock:
            return self.broker.authorizations[authorization_id].refresh_count

    def trade_used(self, trade_id: str) -> bool:
        with self.broker.lock:
            return self.broker.trades[trade_id].used

    # -------------------------------------------------------------- policies
    @property
    def fill_policy(self) -> str:
        """auto (default) | accept (rest ACCEPTED) | pending (rest PENDING) | reject (REJECTED)."""
        return self.broker.fill_policy

    @fill_policy.setter
    def fill_policy(self, value: str) -> None:
        if value not in FILL_POLICIES:
            raise ValueError(f"fill_policy must be one of {FILL_POLICIES}")
        self.broker.fill_policy = value

    @property
    def cancel_policy(self) -> str:
        """immediate (default: CANCELED) | pending (CANCEL_PENDING until set_order_status)."""
        return self.broker.cancel_policy

    @cancel_policy.setter
    def cancel_policy(self, value: str) -> None:
        if value not in CANCEL_POLICIES:
            raise ValueError(f"cancel_policy must be one of {CANCEL_POLICIES}")
        self.broker.cancel_policy = value

    @property
    def commission(self) -> Decimal:
        """Flat commission per order, charged on its first fill and shown in the impact."""
        return self.broker.commission

    @commission.setter
    def commission(self, value: Number) -> None:
        self.broker.commission = to_decimal(value)

    def describe(self) -> str:
        """One line for logs: never includes the consumer key or user secrets."""
        with self.broker.lock:
            return (f"SnapTrade simulator on {self._host}:{self._port}: {len(self.broker.users)} users, "
                    f"{len(self.broker.accounts)} accounts, {len(self.broker.orders)} orders, "
                    f"cash total {dstr(sum((a.cash for a in self.broker.accounts.values()), Decimal(0)))}")
