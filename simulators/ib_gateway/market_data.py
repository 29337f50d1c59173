"""Market data and account analytics on the wire: entitlements, historical bars, head timestamps,
P&L subscriptions, option parameters and option greeks, with their error paths.

State lives in `MarketState` (one per gateway); `MarketDataControls` is the test-facing,
thread-safe surface (``sim.market_data``); `HANDLERS` are the client requests served here.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from .accounts import ZERO, Account, mark_price
from .historical import HistoricalRequestError, generate_bars, head_timestamp, parse_end
from .instruments import ContractQuery, Instrument
from .wire import FieldReader, fmt_decimal

if TYPE_CHECKING:
    from .session import Session

T = TypeVar("T")
HMDS = "Historical Market Data Service error message:"
NOT_SUBSCRIBED = (354, "Requested market data is not subscribed.")
NO_DATA_AT_ALL = (10089, "Requested market data requires additional subscription for API.")
RISK_FREE_RATE, MODEL_VOLATILITY = 0.04, 0.20


@dataclass
class MarketState:
    """Switches a test flips; read on the simulator thread."""

    live_denied: set[str] = field(default_factory=set)
    """Symbols without a live subscription: live requests get 354, delayed ones still work."""
    all_denied: set[str] = field(default_factory=set)
    """Symbols with no market data permission at all (live, delayed and historical)."""
    silenced: set[str] = field(default_factory=set)
    """Symbols whose market-data requests get no answer at all (a stuck data farm)."""
    market_open: bool = True
    pacing: tuple[int, float] | None = None
    """(max historical requests, window seconds): more within the window is a pacing violation."""
    pacing_wait_seconds: int = 10
    history_times: collections.deque[float] = field(default_factory=collections.deque)
    historical_requests: int = 0
    baselines: dict[tuple[str, int], tuple[Decimal, Decimal]] = field(default_factory=dict)
    """(account, conId) -> (unrealized, realized) at the start of the simulated day."""

    def denied(self, inst: Instrument, live: bool) -> bool:
        names = {inst.symbol, inst.key}
        return bool(names & self.all_denied) or (live and bool(names & self.live_denied))


# --- market data type, greeks ----------------------------------------------------------------
def answer_type(session: Session, req_id: int, inst: Instrument) -> int | None:
    """The market data type a snapshot/stream is served with, or None (refused with an error, or silenced)."""
    state: MarketState = session.gw.market
    requested = session.market_data_type
    if {inst.symbol, inst.key} & state.silenced:
        return None
    if state.denied(inst, live=requested in (1, 2)):
        code, text = NO_DATA_AT_ALL if state.denied(inst, live=False) else NOT_SUBSCRIBED
        session.send(_error(session, req_id, code, text))
        return None
    if requested in (1, 3):
        return requested
    frozen = not state.market_open
    return (2 if frozen else 1) if requested == 2 else (4 if frozen else 3)


def greeks_tick(req_id: int, inst: Instrument, data_type: int, today: dt.date) -> list[str] | None:
    """Model option computation (tick 13, or 83 when delayed) from Black-Scholes at a fixed volatility."""
    if inst.sec_type != "OPT" or inst.underlying is None:
        return None
    spot, strike = float(mark_price(inst.underlying)), float(inst.strike)
    expiry = dt.datetime.strptime(inst.last_trade_date, "%Y%m%d").date()
    years = max((expiry - today).days, 1) / 365.0
    sigma, rate = MODEL_VOLATILITY, RISK_FREE_RATE
    d1 = (math.log(spot / strike) + (rate + sigma * sigma / 2) * years) / (sigma * math.sqrt(years))
    d2 = d1 - sigma * math.sqrt(years)
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    discount = math.exp(-rate * years)
    if inst.right == "C":
        price, delta = spot * cdf(d1) - strike * discount * cdf(d2), cdf(d1)
        theta = -spot * pdf * sigma / (2 * math.sqrt(years)) - rate * strike * discount * cdf(d2)
    else:
        price, delta = strike * discount * cdf(-d2) - spot * cdf(-d1), cdf(d1) - 1
        theta = -spot * pdf * sigma / (2 * math.sqrt(years)) + rate * strike * discount * cdf(-d2)
    gamma = pdf / (spot * sigma * math.sqrt(years))
    vega = spot * pdf * math.sqrt(years) / 100
    values = (sigma, delta, price, 0.0, gamma, vega, theta / 365, spot)
    tick_type = 83 if data_type in (3, 4) else 13
    return ["21", str(req_id), str(tick_type), "0", *(f"{v:.6f}" for v in values)]


# --- historical data -------------------------------------------------------------------------
def _historical(session: Session, fields: list[str]) -> None:
    r = FieldReader(fields, 1)
    req_id = r.integer()
    query = ContractQuery.read(r)
    r.skip(1)  # includeExpired
    end_text, bar_size, duration = r.text(), r.text(), r.text()
    rth, what, format_date = r.flag(), r.text().upper(), r.integer(1)
    state: MarketState = session.gw.market
    try:
        inst = _instrument(session, query)
        _check_history(state, inst)
        end = parse_end(end_text, dt.datetime.now(dt.UTC))
        if end < head_timestamp(inst, session.gw.broker.book.today):
            raise HistoricalRequestError(162, HMDS + "HMDS query returned no data: " + inst.key)
        bars = generate_bars(inst, end, duration, bar_size, rth, what)
    except HistoricalRequestError as exc:
        session.send(_error(session, req_id, exc.code, exc.message))
        return
    except KeyError:
        session.send(_error(session, req_id, 321, f"Error validating request:-'bP' : cause - {bar_size!r} "
                                                  f"or {duration!r} is not a valid bar size or duration"))
        return
    if not bars:
        session.send(_error(session, req_id, 162, HMDS + "HMDS query returned no data: " + inst.key))
        return
    start_text = bars[0].start.strftime("%Y%m%d %H:%M:%S UTC")
    out = ["17", str(req_id), start_text, end.astimezone(dt.UTC).strftime("%Y%m%d %H:%M:%S UTC"), str(len(bars))]
    for bar in bars:
        volume = fmt_decimal(bar.volume) if bar.volume is not None else "-1"
        wap = fmt_decimal((bar.high + bar.low + bar.close) / 3)
        out += [bar.date_text(format_date), fmt_decimal(bar.open), fmt_decimal(bar.high), fmt_decimal(bar.low),
                fmt_decimal(bar.close), volume, wap, "-1" if bar.volume is None else "100"]
    session.send(out)


def _check_history(state: MarketState, inst: Instrument) -> None:
    state.historical_requests += 1
    if state.denied(inst, live=True):
        raise HistoricalRequestError(162, _no_permission(inst))
    if state.pacing is not None:
        limit, window = state.pacing
        now = time.monotonic()
        while state.history_times and now - state.history_times[0] > window:
            state.history_times.popleft()
        if len(state.history_times) >= limit:
            oldest = state.history_times[0] if state.history_times else now
            wait = max(1, math.ceil(window - (now - oldest)))
            raise HistoricalRequestError(
                162, HMDS + f"Historical data request pacing violation. Retry in {wait} seconds.")
        state.history_times.append(now)


def _head_timestamp(session: Session, fields: list[str]) -> None:
    r = FieldReader(fields, 1)
    req_id = r.integer()
    query = ContractQuery.read(r)
    try:
        inst = _instrument(session, query)
        if session.gw.market.denied(inst, live=True):
            raise HistoricalRequestError(
                162, _no_permission(inst))
    except HistoricalRequestError as exc:
        session.send(_error(session, req_id, exc.code, exc.message))
        return
    head = head_timestamp(inst, session.gw.broker.book.today)
    session.send(["88", str(req_id), str(int(head.timestamp()))])


def _no_permission(inst: Instrument) -> str:
    return HMDS + f"No market data permissions for {inst.primary_exchange or inst.exchange} {inst.sec_type}"


def _instrument(session: Session, query: ContractQuery) -> Instrument:
    matches = session.gw.broker.book.match(query)
    if len(matches) != 1:
        raise HistoricalRequestError(200, "No security definition has been found for the request")
    return matches[0]


# --- option parameters ---------------------------------------------------------------------------
def _sec_def_opt_params(session: Session, fields: list[str]) -> None:
    req_id, symbol, con_id = int(fields[1]), fields[2].upper(), int(fields[5] or 0)
    options = [i for i in session.gw.broker.book.instruments
               if i.sec_type == "OPT" and i.under_symbol == symbol and (not con_id or i.under_con_id == con_id)]
    if options:
        expiries = sorted({i.last_trade_date for i in options})
        strikes = sorted({i.strike for i in options})
        first = options[0]
        for exchange in ("SMART", "CBOE"):
            session.send(["75", str(req_id), exchange, str(first.under_con_id), first.trading_class,
                          first.multiplier, str(len(expiries)), *expiries, str(len(strikes)),
                          *(fmt_decimal(s) for s in strikes)])
    session.send(["76", str(req_id)])


# --- P&L -----------------------------------------------------------------------------------------
@dataclass
class PnLSubscriptions:
    accounts: dict[int, str] = field(default_factory=dict)
    singles: dict[int, tuple[str, int]] = field(default_factory=dict)


def position_pnl(state: MarketState, account: Account, con_id: int) -> tuple[Decimal, Decimal, Decimal]:
    """(daily, unrealized, realized today) of one position (open or closed today)."""
    pos = account.positions[con_id]
    unrealized, realized = pos.unrealized_pnl(), pos.realized_pnl
    base_u, base_r = state.baselines.get((account.account_id, con_id), (ZERO, ZERO))
    return (unrealized - base_u) + (realized - base_r), unrealized, realized - base_r


def account_pnl(state: MarketState, account: Account) -> tuple[Decimal, Decimal, Decimal]:
    figures = [position_pnl(state, account, c) for c in account.positions]
    return (sum((f[0] for f in figures), ZERO), sum((f[1] for f in figures), ZERO),
            sum((f[2] for f in figures), ZERO))


def push_pnl(session: Session, account: Account) -> None:
    """Send the current figures to this session's subscriptions on `account`."""
    subs: PnLSubscriptions = session.pnl_subscriptions
    state: MarketState = session.gw.market
    for req_id, wanted in subs.accounts.items():
        if wanted == account.account_id:
            daily, unrealized, realized = account_pnl(state, account)
            session.send(["94", str(req_id), *(_money(v) for v in (daily, unrealized, realized))])
    for req_id, (wanted, con_id) in subs.singles.items():
        if wanted == account.account_id and con_id in account.positions:
            daily, unrealized, realized = position_pnl(state, account, con_id)
            pos = account.positions[con_id]
            session.send(["95", str(req_id), fmt_decimal(pos.quantity),
                          *(_money(v) for v in (daily, unrealized, realized, pos.market_value()))])


def _money(value: Decimal) -> str:
    return fmt_decimal(value.quantize(Decimal("0.01")))


def _req_pnl(session: Session, fields: list[str]) -> None:
    req_id, account_id = int(fields[1]), fields[2]
    session.pnl_subscriptions.accounts[req_id] = account_id
    account = session.gw.broker.accounts.get(account_id)
    if account is not None:
        push_pnl(session, account)


def _req_pnl_single(session: Session, fields: list[str]) -> None:
    req_id, account_id, con_id = int(fields[1]), fields[2], int(fields[4] or 0)
    session.pnl_subscriptions.singles[req_id] = (account_id, con_id)
    account = session.gw.broker.accounts.get(account_id)
    if account is not None:
        push_pnl(session, account)


def _cancel_pnl(session: Session, fields: list[str]) -> None:
    session.pnl_subscriptions.accounts.pop(int(fields[1]), None)


def _cancel_pnl_single(session: Session, fields: list[str]) -> None:
    session.pnl_subscriptions.singles.pop(int(fields[1]), None)


def _ignore(session: Session, fields: list[str]) -> None:
    """Cancels of one-shot requests that are already answered."""


def _error(session: Session, req_id: int, code: int, message: str) -> list[str]:
    from .encode import error

    return error(session.server_version, req_id, code, message)


HANDLERS: dict[int, Callable[[Session, list[str]], None]] = {
    20: _historical, 25: _ignore, 78: _sec_def_opt_params, 87: _head_timestamp, 90: _ignore,
    92: _req_pnl, 93: _cancel_pnl, 94: _req_pnl_single, 95: _cancel_pnl_single,
}


class MarketDataControls:
    """`sim.market_data`: entitlements, market hours, pacing and the trading day, from any thread."""

    def __init__(self, call: Callable[[Callable[[], Any]], Any], gateway: Any) -> None:
        self._call = call
        self._gw = gateway

    @property
    def state(self) -> MarketState:
        return self._gw.market

    def deny_live(self, *symbols: str) -> None:
        self._call(lambda: self.state.live_denied.update(s.upper() for s in symbols))

    def deny_all(self, *symbols: str) -> None:
        self._call(lambda: self.state.all_denied.update(s.upper() for s in symbols))

    def allow_all(self) -> None:
        def apply() -> None:
            self.state.live_denied.clear()
            self.state.all_denied.clear()
            self.state.silenced.clear()

        self._call(apply)

    def silence(self, *symbols: str) -> None:
        """Market-data requests for these symbols are never answered (until allow_all)."""
        self._call(lambda: self.state.silenced.update(s.upper() for s in symbols))

    def set_market_open(self, is_open: bool) -> None:
        self._call(lambda: setattr(self.state, "market_open", is_open))

    def pace_historical(self, max_requests: int | None, window_seconds: float = 600.0) -> None:
        """At most `max_requests` historical requests per window (None: no pacing)."""
        def apply() -> None:
            self.state.pacing = None if max_requests is None else (max_requests, window_seconds)
            self.state.history_times.clear()

        self._call(apply)

    @property
    def historical_requests(self) -> int:
        return self._call(lambda: self.state.historical_requests)

    def set_foreign_cash(self, account_id: str, currency: str, amount: Decimal | str,
                         usd_per_unit: Decimal | str) -> None:
        """Hold cash in another currency (a multi-currency account); summaries then report a ledger per currency."""
        def apply() -> None:
            account = self._gw.broker.accounts[account_id]
            account.foreign_cash[currency.upper()] = (Decimal(str(amount)), Decimal(str(usd_per_unit)))
            values = account.values()
            for session in list(self._gw.sessions.values()):
                session.push_values(account, values)

        self._call(apply)

    def start_new_day(self) -> None:
        """Daily P&L restarts from here, as at the open; pushes the new figures to subscribers."""
        def apply() -> None:
            for account in self._gw.broker.accounts.values():
                for con_id, pos in account.positions.items():
                    self.state.baselines[(account.account_id, con_id)] = (pos.unrealized_pnl(), pos.realized_pnl)
                for session in list(self._gw.sessions.values()):
                    push_pnl(session, account)

        self._call(apply)

    def pnl(self, account_id: str) -> dict[str, Any]:
        """The figures the simulator reports: account and per conId (daily, unrealized, realized)."""
        def snap() -> dict[str, Any]:
            account = self._gw.broker.accounts[account_id]
            return {"account": account_pnl(self.state, account),
                    "positions": {c: position_pnl(self.state, account, c) for c in account.positions}}

        return self._call(snap)
