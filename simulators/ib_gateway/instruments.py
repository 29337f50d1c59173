"""The simulator's instrument book: what it can qualify, quote and trade.

Prices only move when a control says so, so every test sees the same quotes. Futures and
option expiries are derived from the book's ``today`` so they are always in the future.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .wire import FieldReader, parse_decimal

_MONTH_CODES = "FGHJKMNQUVXZ"
_STOCK_EXCHANGES = ("SMART", "NASDAQ", "ISLAND", "NYSE", "ARCA", "BATS", "IEX", "AMEX")


@dataclass
class Quote:
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    close: Decimal | None

    def as_dict(self) -> dict[str, Decimal | None]:
        return {"bid": self.bid, "ask": self.ask, "last": self.last, "close": self.close}


@dataclass
class Instrument:
    con_id: int
    symbol: str
    sec_type: str
    long_name: str
    min_tick: Decimal
    exchange: str = "SMART"
    valid_exchanges: tuple[str, ...] = _STOCK_EXCHANGES
    primary_exchange: str = ""
    exec_exchange: str = "ISLAND"
    currency: str = "USD"
    last_trade_date: str = ""
    strike: Decimal = Decimal(0)
    right: str = ""
    multiplier: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    stock_type: str = ""
    industry: str = ""
    category: str = ""
    under_con_id: int = 0
    under_symbol: str = ""
    under_sec_type: str = ""
    tradable: bool = True
    # Fixed-rate commission schedule: per unit, minimum per order, cap as a fraction of value.
    commission_per_unit: Decimal = Decimal("0.005")
    commission_min: Decimal = Decimal("1.00")
    commission_max_pct: Decimal | None = Decimal("0.01")
    # STK: fractions of market value; FUT: amounts per contract; OPT: handled in accounts.
    init_margin: Decimal = Decimal("0.5")
    maint_margin: Decimal = Decimal("0.25")
    quote: Quote = field(default_factory=lambda: Quote(None, None, None, None))
    quote_size: Decimal = Decimal(100)
    underlying: Instrument | None = field(default=None, repr=False)

    @property
    def mult(self) -> Decimal:
        return Decimal(self.multiplier) if self.multiplier else Decimal(1)

    @property
    def contract_month(self) -> str:
        return self.last_trade_date[:6]

    @property
    def key(self) -> str:
        """A readable name for logs and snapshots: the symbol, or the local symbol for derivatives."""
        return self.local_symbol if self.sec_type in ("FUT", "OPT") else self.symbol


@dataclass
class ContractQuery:
    """The 12-field contract block a client sends, with numbers parsed."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    last_trade_date: str = ""
    strike: Decimal | None = None
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""

    @classmethod
    def read(cls, reader: FieldReader) -> ContractQuery:
        con_id = reader.integer()
        symbol, sec_type, last_trade = reader.text(), reader.text(), reader.text()
        strike = reader.number()
        right, multiplier, exchange = reader.text(), reader.text(), reader.text()
        primary, currency, local_symbol, trading_class = (reader.text() for _ in range(4))
        return cls(
            con_id, symbol, sec_type, last_trade, strike or None, right, multiplier, exchange,
            primary, currency, local_symbol, trading_class,
        )

    def describe(self) -> str:
        parts = [self.symbol or self.local_symbol or str(self.con_id), self.sec_type, self.exchange]
        return " ".join(p for p in parts if p)


def third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (4 - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 14)


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def quarterly_expiries(today: dt.date, count: int) -> list[dt.date]:
    """The next ``count`` quarterly (Mar/Jun/Sep/Dec) third Fridays strictly after ``today``."""
    result: list[dt.date] = []
    year, month = today.year, today.month
    while len(result) < count:
        if month % 3 == 0 and third_friday(year, month) > today:
            result.append(third_friday(year, month))
        year, month = _month_after(year, month)
    return result


def monthly_expiry(today: dt.date, min_days: int = 7) -> dt.date:
    year, month = today.year, today.month
    while third_friday(year, month) < today + dt.timedelta(days=min_days):
        year, month = _month_after(year, month)
    return third_friday(year, month)


def _normalize_right(right: str) -> str:
    return {"CALL": "C", "PUT": "P"}.get(right.upper(), right.upper())


def _same_number(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except ArithmeticError:
        return a == b


_STOCKS: tuple[tuple[str, int, str, str, str, str], ...] = (
    # symbol, conId, primary exchange, long name, stock type, start price
    ("AAPL", 265598, "NASDAQ", "APPLE INC", "COMMON", "190.00"),
    ("MSFT", 272093, "NASDAQ", "MICROSOFT CORP", "COMMON", "420.00"),
    ("NVDA", 4815747, "NASDAQ", "NVIDIA CORP", "COMMON", "120.00"),
    ("AMZN", 3691937, "NASDAQ", "AMAZON.COM INC", "COMMON", "180.00"),
    ("GOOGL", 208813719, "NASDAQ", "ALPHABET INC-CL A", "COMMON", "170.00"),
    ("TSLA", 76792991, "NASDAQ", "TESLA INC", "COMMON", "250.00"),
    ("JPM", 1520593, "NYSE", "JPMORGAN CHASE & CO", "COMMON", "200.00"),
    ("SPY", 756733, "ARCA", "SPDR S&P 500 ETF TRUST", "ETF", "500.00"),
    ("QQQ", 320227571, "NASDAQ", "INVESCO QQQ TRUST SERIES 1", "ETF", "430.00"),
    ("IWM", 9579970, "ARCA", "ISHARES RUSSELL 2000 ETF", "ETF", "210.00"),
)
_EXEC_EXCHANGE = {"NASDAQ": "ISLAND", "NYSE": "NYSE", "ARCA": "ARCA"}
_FUTURES: tuple[tuple[str, str, str, str, str, str], ...] = (
    # symbol, multiplier, long name, per-contract commission, initial margin, maintenance margin
    ("ES", "50", "E-mini S&P 500", "2.25", "16000", "14500"),
    ("MES", "5", "Micro E-Mini S&P 500 Stock Price Index", "0.62", "1600", "1450"),
)
FUTURE_MONTHS = 4
"""Quarterly contracts listed per futures root (the front month is the nearest)."""


class InstrumentBook:
    """Every contract the simulator knows, indexed for qualification and controls."""

    def __init__(self, today: dt.date | None = None) -> None:
        self.today = today or dt.date.today()
        self.instruments: list[Instrument] = []
        self.by_con_id: dict[int, Instrument] = {}
        self._build()

    def _add(self, inst: Instrument, last: Decimal | None) -> None:
        self.instruments.append(inst)
        self.by_con_id[inst.con_id] = inst
        self.set_quote(inst, last=last, close=last)

    def _build(self) -> None:
        for symbol, con_id, primary, name, stock_type, price in _STOCKS:
            inst = Instrument(
                con_id, symbol, "STK", name, Decimal("0.01"), primary_exchange=primary,
                exec_exchange=_EXEC_EXCHANGE[primary], local_symbol=symbol, trading_class=(
                    "NMS" if primary == "NASDAQ" else symbol
                ), stock_type=stock_type, category="ETF" if stock_type == "ETF" else "Equity",
            )
            self._add(inst, Decimal(price))
        self._add(
            Instrument(
                416904, "SPX", "IND", "S&P 500 Stock Index", Decimal("0.01"), exchange="CBOE",
                valid_exchanges=("CBOE",), primary_exchange="CBOE", exec_exchange="CBOE", local_symbol="SPX",
                trading_class="SPX", tradable=False,
            ),
            Decimal("5000.00"),
        )
        next_con_id = 700000001
        for symbol, multiplier, name, fee, init, maint in _FUTURES:
            for expiry in quarterly_expiries(self.today, FUTURE_MONTHS):
                local = f"{symbol}{_MONTH_CODES[expiry.month - 1]}{expiry.year % 10}"
                inst = Instrument(
                    next_con_id, symbol, "FUT", name, Decimal("0.25"), exchange="CME",
                    valid_exchanges=("CME", "GLOBEX"), primary_exchange="CME", exec_exchange="CME",
                    last_trade_date=expiry.strftime("%Y%m%d"), multiplier=multiplier,
                    local_symbol=local, trading_class=symbol, under_con_id=11004968,
                    under_symbol=symbol, under_sec_type="IND", commission_per_unit=Decimal(fee),
                    commission_min=Decimal(fee), commission_max_pct=None,
                    init_margin=Decimal(init), maint_margin=Decimal(maint), quote_size=Decimal(10),
                )
                next_con_id += 1
                self._add(inst, Decimal("5000.00"))
        from .listings import option_and_foreign_listings  # listings builds on this module's types

        for inst, listed_price in option_and_foreign_listings(self):
            self._add(inst, listed_price)

    def front_month(self, symbol: str) -> Instrument:
        futures = [i for i in self.instruments if i.sec_type == "FUT" and i.symbol == symbol.upper()]
        if not futures:
            raise KeyError(f"no futures for {symbol!r}")
        return min(futures, key=lambda i: i.last_trade_date)

    def lookup(self, key: str | int) -> Instrument:
        """Resolve a control-side name: conId, stock/index symbol, futures root (front month),
        or a futures/option local symbol (OCC symbols may omit the padding)."""
        if isinstance(key, int):
            return self.by_con_id[key]
        wanted = key.strip().upper()
        compact = wanted.replace(" ", "")
        for inst in self.instruments:
            if inst.sec_type in ("STK", "IND") and inst.symbol == wanted:
                return inst
        for inst in self.instruments:
            if inst.sec_type in ("FUT", "OPT") and inst.local_symbol.replace(" ", "") == compact:
                return inst
        if any(i.sec_type == "FUT" and i.symbol == wanted for i in self.instruments):
            return self.front_month(wanted)
        raise KeyError(f"unknown instrument {key!r}")

    def match(self, q: ContractQuery) -> list[Instrument]:
        """Contracts consistent with every field the client filled in, as TWS qualifies them."""
        if q.con_id:
            inst = self.by_con_id.get(q.con_id)
            if inst is None or (q.exchange and q.exchange.upper() not in inst.valid_exchanges):
                return []
            return [inst]
        return [inst for inst in self.instruments if self._matches(inst, q)]

    @staticmethod
    def _matches(inst: Instrument, q: ContractQuery) -> bool:
        checks = (
            not q.symbol or q.symbol.upper() == inst.symbol,
            not q.sec_type or q.sec_type.upper() == inst.sec_type,
            not q.exchange or q.exchange.upper() in inst.valid_exchanges,
            not q.currency or q.currency.upper() == inst.currency,
            not q.primary_exchange or not inst.primary_exchange
            or q.primary_exchange.upper() in (inst.primary_exchange, inst.exec_exchange),
            not q.last_trade_date or inst.last_trade_date.startswith(q.last_trade_date),
            q.strike is None or q.strike == inst.strike,
            not q.right or _normalize_right(q.right) == inst.right,
            not q.multiplier or _same_number(q.multiplier, inst.multiplier or "1"),
            not q.local_symbol
            or q.local_symbol.replace(" ", "").upper() == inst.local_symbol.replace(" ", ""),
            not q.trading_class or q.trading_class.upper() == inst.trading_class,
            bool(q.symbol or q.local_symbol),
        )
        return all(checks)

    def set_quote(
        self,
        inst: Instrument,
        last: Decimal | None = None,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        close: Decimal | None = None,
    ) -> None:
        """Move a quote; a new last without an explicit bid/ask puts the touch one tick around it."""
        quote = inst.quote
        if last is not None:
            quote.last = last
            if inst.sec_type != "IND":
                quote.bid = bid if bid is not None else last - inst.min_tick
                quote.ask = ask if ask is not None else last + inst.min_tick
        else:
            if bid is not None:
                quote.bid = bid
            if ask is not None:
                quote.ask = ask
        if close is not None:
            quote.close = close


def decimal_arg(value: Decimal | str | int | float | None) -> Decimal | None:
    """Controls accept Decimal, int or text; floats go through str() to avoid binary noise."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    parsed = parse_decimal(str(value))
    if parsed is None:
        raise ValueError(f"not a number: {value!r}")
    return parsed
