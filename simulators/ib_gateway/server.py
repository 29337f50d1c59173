"""IBGatewaySimulator: the public, thread-safe control surface.

The simulator runs its own asyncio loop on a daemon thread, so tests and benchmarks can drive
it from plain synchronous code or from another event loop. Every control that touches state
hops onto that thread and waits, so when a control returns its messages are already queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from . import session_end
from .accounts import AccountSnapshot
from .gateway import CONNECTIVITY_NOTICES, DROP_WHEN, PRESET_WHEN, Gateway
from .instruments import InstrumentBook, decimal_arg
from .market_data import MarketDataControls
from .matching import Broker
from .orders import ExecutionSnapshot, OrderSnapshot
from .session import Session

T = TypeVar("T")
MIN_SERVER_VERSION, MAX_SERVER_VERSION = 157, 178
_CONTROL_TIMEOUT = 30.0


class IBGatewaySimulator:
    """An IB Gateway stand-in speaking the TWS socket protocol to unmodified ib_async clients."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        server_version: int = MAX_SERVER_VERSION,
        accounts: tuple[str, ...] | list[str] = ("DU1234567",),
        max_order_quantity: Decimal | int | str = Decimal("100000"),
        starting_cash: Decimal | int | str = Decimal("1000000"),
        *,
        farm_notices: bool = True,
        perm_id_start: int | None = None,
        today: datetime.date | None = None,
    ) -> None:
        if not MIN_SERVER_VERSION <= server_version <= MAX_SERVER_VERSION:
            raise ValueError(f"server_version must be within {MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}")
        accounts = tuple(accounts)
        if not accounts or len(set(accounts)) != len(accounts) or not all(accounts):
            raise ValueError("accounts must be a non-empty list of distinct account ids")
        self.host = host
        self._requested_port = port
        self._port = port
        self.server_version = server_version
        started = int(time.time())
        self._book = InstrumentBook(today)
        self._broker = Broker(
            self._book, accounts, decimal_arg(starting_cash) or Decimal(0),
            decimal_arg(max_order_quantity) or Decimal(0),
            perm_id_start if perm_id_start is not None else 1_000_000_000 + (started % 100_000) * 10_000,
            f"{started & 0xFFFFFFFF:08x}",
        )
        self._gw = Gateway(self._broker, server_version, farm_notices)
        self.market_data = MarketDataControls(self._call, self._gw)
        """Entitlements, market hours, historical pacing and the trading day (see market_data.py)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._running = False
        self._refuse = False

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> IBGatewaySimulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _ensure_thread(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            return self._loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="ib-gateway-sim", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        self._gw.loop = loop
        return loop

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the simulator thread (directly when already there or not started)."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def runner() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(runner)
        return future.result(timeout=_CONTROL_TIMEOUT)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Session(self._gw), self.host, self._port or self._requested_port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _listen_now(self) -> None:
        loop = self._ensure_thread()
        if threading.current_thread() is self._thread:
            loop.create_task(self._listen())  # called from a hook: cannot wait on our own loop
        else:
            asyncio.run_coroutine_threadsafe(self._listen(), loop).result(_CONTROL_TIMEOUT)

    def start(self) -> None:
        """Listen (again): after stop() the same port is reused and all state is kept."""
        self._ensure_thread()
        self._running = True
        if not self._refuse:
            self._listen_now()

    def stop(self) -> None:
        """Close the listener and every client connection; orders, fills and accounts are kept."""
        self._running = False

        def stop_now() -> None:
            self._close_listener()
            self._gw.close_all()

        self._call(stop_now)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """stop() and end the simulator thread."""
        self.stop()
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=_CONTROL_TIMEOUT)
            loop.close()
        self._loop = self._thread = None
        self._gw.loop = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def is_listening(self) -> bool:
        return self._server is not None

    # -- market and orders -------------------------------------------------------
    def set_price(
        self,
        symbol: str | int,
        last: Decimal | str | int | None = None,
        bid: Decimal | str | int | None = None,
        ask: Decimal | str | int | None = None,
        close: Decimal | str | int | None = None,
    ) -> None:
        """Move a quote; resting Limit/Stop orders on it are matched before this returns."""
        values = [decimal_arg(v) for v in (last, bid, ask, close)]

        def apply() -> None:
            inst = self._book.lookup(symbol)
            self._book.set_quote(inst, *values)
            self._gw.price_moved(inst)

        self._call(apply)

    def get_price(self, symbol: str | int) -> dict[str, Decimal | None]:
        def quote() -> dict[str, Decimal | None]:
            return self._book.lookup(symbol).quote.as_dict()

        return self._call(quote)

    def front_month(self, symbol: str) -> str:
        """lastTradeDateOrContractMonth (YYYYMMDD) of a futures root's front month, e.g. 'ES'."""
        return self._book.front_month(symbol).last_trade_date

    def option_expiry(self) -> str:
        """The expiry (YYYYMMDD) of the SPY options in the book."""
        return next(i.last_trade_date for i in self._book.instruments if i.sec_type == "OPT")

    def fill(self, order_id: int, quantity: Decimal | str | int | None = None,
             price: Decimal | str | int | None = None, *, client_id: int | None = None) -> OrderSnapshot:
        """Fill a live order now (partially when quantity < remaining), whatever the market."""
        qty, px = decimal_arg(quantity), decimal_arg(price)

        def apply() -> OrderSnapshot:
            order = self._broker.find_active(order_id, client_id)
            if not order.is_active:
                raise ValueError(f"order {order_id} is not acknowledged yet")
            quote = order.instrument.quote
            touch = quote.ask if order.action == "BUY" else quote.bid
            fill_price = px or order.lmt_price or touch or quote.last
            if fill_price is None:
                raise ValueError("no price to fill at")
            self._gw.fill(order, qty or order.remaining, fill_price)
            return order.snapshot()

        return self._call(apply)

    def cancel(self, order_id: int, *, client_id: int | None = None) -> OrderSnapshot:
        """Cancel a live order from the broker side (as an exchange or TWS user would)."""

        def apply() -> OrderSnapshot:
            order = self._broker.find_active(order_id, client_id)
            self._gw.cancel(order)
            return order.snapshot()

        return self._call(apply)

    def run_auction(self, kind: str) -> int:
        """Run the closing ('close': MOC orders) or opening ('open': OPG orders) auction; returns fills."""
        if kind not in ("close", "open"):
            raise ValueError("kind must be 'close' or 'open'")
        return self._call(lambda: session_end.auction(self._gw, kind))

    def expire_day_orders(self) -> int:
        """End of day: cancel every live DAY order; returns how many."""
        return self._call(lambda: session_end.expire_day_orders(self._gw))

    @property
    def orders(self) -> list[OrderSnapshot]:
        return self._call(lambda: [o.snapshot() for o in self._broker.orders])

    @property
    def executions(self) -> list[ExecutionSnapshot]:
        return self._call(lambda: [e.snapshot() for e in self._broker.executions])

    @property
    def placed_order_count(self) -> int:
        return self._broker.placed_count

    @property
    def modification_count(self) -> int:
        return self._broker.modification_count

    def account(self, account: str | None = None) -> AccountSnapshot:
        def snap() -> AccountSnapshot:
            accounts = self._broker.accounts
            return AccountSnapshot.of(accounts[account] if account else next(iter(accounts.values())))

        return self._call(snap)

    @property
    def accounts(self) -> list[str]:
        return list(self._broker.accounts)

    # -- connections and the message log -------------------------------------------
    @property
    def received(self) -> list[tuple[int, int, list[str]]]:
        """(client_id, msg_id, fields) of every message received; client_id is -1 before startApi."""
        return self._gw.received()

    def clear_received(self) -> None:
        self._gw.clear_received()

    @property
    def connection_count(self) -> int:
        return self._gw.connection_count

    @property
    def connected_client_ids(self) -> list[int]:
        return self._call(lambda: sorted(self._gw.sessions))

    def cpu_time(self) -> float:
        """CPU seconds used by the simulator thread (for benchmarks)."""
        return self._call(time.thread_time)

    # -- faults -------------------------------------------------------------------
    def reject_next_order(self, reason: str = "Simulated rejection") -> None:
        self._gw.reject_next = reason

    def drop_connection_on_place(self, when: str = "before_ack") -> None:
        if when not in DROP_WHEN:
            raise ValueError(f"when must be one of {DROP_WHEN}")
        self._gw.drop_on_place = when

    def partial_fill_next(self, quantity: Decimal | str | int) -> None:
        """The next automatic fill is cut to ``quantity``; the rest keeps working (IOC: cancelled)."""
        self._gw.partial_next = decimal_arg(quantity)

    def send_connectivity_notice(self, code: int = 1100, message: str | None = None) -> None:
        if code not in CONNECTIVITY_NOTICES and message is None:
            raise ValueError(f"unknown notice {code}; pass a message")
        self._call(lambda: self._gw.notice(code, message))

    def order_presets(self, notice: str | None = "before_ack", *, inactive_first: bool = False) -> None:
        """Answer new orders as real gateways do: `notice` ('before_ack' / 'after_ack'; None: off) sends error
        10349 'Order TIF was set to DAY based on order preset' at that point, and `inactive_first` reports each
        order Inactive (no error) just before Submitted. Either way the order stays live."""
        if notice is not None and notice not in PRESET_WHEN:
            raise ValueError(f"notice must be None or one of {PRESET_WHEN}")
        self._gw.preset_notice, self._gw.inactive_before_submit = notice, inactive_first

    @property
    def delay_acks_ms(self) -> int:
        return self._gw.delay_acks_ms

    @delay_acks_ms.setter
    def delay_acks_ms(self, value: int) -> None:
        self._gw.delay_acks_ms = int(value)

    @property
    def delay_fills_ms(self) -> int:
        return self._gw.delay_fills_ms

    @delay_fills_ms.setter
    def delay_fills_ms(self, value: int) -> None:
        self._gw.delay_fills_ms = int(value)

    @property
    def auto_fill(self) -> bool:
        """False: orders are acknowledged but never fill by themselves (only through fill())."""
        return self._gw.auto_fill

    @auto_fill.setter
    def auto_fill(self, value: bool) -> None:
        self._gw.auto_fill = bool(value)

    @property
    def commission_report_first(self) -> bool:
        """True: send commissionReport before the fill's orderStatus (real TWS does both orders)."""
        return self._gw.commission_report_first

    @commission_report_first.setter
    def commission_report_first(self, value: bool) -> None:
        self._gw.commission_report_first = bool(value)

    @property
    def account_update_interval_ms(self) -> int:
        """How long account values are batched before being pushed (positions go at once)."""
        return self._gw.account_update_interval_ms

    @account_update_interval_ms.setter
    def account_update_interval_ms(self, value: int) -> None:
        self._gw.account_update_interval_ms = int(value)

    @property
    def on_place_order(self) -> Callable[[OrderSnapshot], None] | None:
        return self._gw.on_place_order

    @on_place_order.setter
    def on_place_order(self, hook: Callable[[OrderSnapshot], None] | None) -> None:
        self._gw.on_place_order = hook

    @property
    def refuse_connections(self) -> bool:
        return self._refuse

    @refuse_connections.setter
    def refuse_connections(self, value: bool) -> None:
        """True closes the listening socket (connects fail at once with ECONNREFUSED);
        existing connections stay up. False listens again on the same port."""
        self._refuse = bool(value)
        if self._loop is None or not self._running:
            return
        if self._refuse:
            self._call(self._close_listener)
        else:
            self._listen_now()
