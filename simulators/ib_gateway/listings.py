"""The simulator's listings beyond US stocks and SPY options: index options (SPX on CBOE), a
non-US stock (VOD on LSE in GBP), and continuous-future qualification (secType CONTFUT).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from .instruments import ContractQuery, Instrument, monthly_expiry

if TYPE_CHECKING:
    from .instruments import InstrumentBook

FX_TO_USD: dict[str, Decimal] = {"USD": Decimal(1), "GBP": Decimal("1.27")}
"""The simulator's fixed exchange rates: a non-USD listing's values count in the USD base at this rate."""

SPX_CON_ID = 416904
_SPX_STRIKES = ("4900", "4950", "5000", "5050", "5100")
_SPX_TIME_VALUE = Decimal("40.00")
CONTINUOUS = "CONTFUT"


def vod() -> tuple[Instrument, Decimal]:
    """Vodafone on the London Stock Exchange, in GBP (IB: SMART-routable, primary LSE)."""
    return Instrument(
        12087820, "VOD", "STK", "VODAFONE GROUP PLC", Decimal("0.02"), exchange="SMART",
        valid_exchanges=("SMART", "LSE"), primary_exchange="LSE", exec_exchange="LSE", currency="GBP",
        local_symbol="VOD", trading_class="VOD", stock_type="COMMON", category="Telecommunications",
        commission_per_unit=Decimal("0.01"), commission_min=Decimal("3.00"), commission_max_pct=None,
    ), Decimal("72.00")


def spx_options(spx: Instrument, expiry: dt.date) -> list[tuple[Instrument, Decimal]]:
    """SPX index options (cash-settled, multiplier 100) on CBOE, one monthly expiry, calls and puts."""
    spot = spx.quote.last or Decimal(0)
    listed: list[tuple[Instrument, Decimal]] = []
    con_id = 810000001
    for strike_text in _SPX_STRIKES:
        strike = Decimal(strike_text)
        for right in ("C", "P"):
            intrinsic = max(Decimal(0), spot - strike if right == "C" else strike - spot)
            local = f"SPX   {expiry:%y%m%d}{right}{int(strike * 1000):08d}"
            inst = Instrument(
                con_id, "SPX", "OPT", spx.long_name, Decimal("0.05"), exchange="CBOE",
                valid_exchanges=("SMART", "CBOE"), primary_exchange="CBOE", exec_exchange="CBOE",
                last_trade_date=f"{expiry:%Y%m%d}", strike=strike, right=right,
                multiplier="100", local_symbol=local, trading_class="SPX", under_con_id=SPX_CON_ID,
                under_symbol="SPX", under_sec_type="IND", commission_per_unit=Decimal("0.65"),
                commission_max_pct=None, quote_size=Decimal(10), underlying=spx,
            )
            listed.append((inst, intrinsic + _SPX_TIME_VALUE))
            con_id += 1
    return listed


def listed_beyond_us(book: InstrumentBook) -> list[tuple[Instrument, Decimal]]:
    """What InstrumentBook adds after the US book: VOD and the SPX option chain."""
    return [vod(), *spx_options(book.lookup("SPX"), monthly_expiry(book.today))]


def continuous_matches(book: InstrumentBook, query: ContractQuery) -> list[Instrument]:
    """What TWS answers for a CONTFUT query: the front-month future (sent back with secType CONTFUT)."""
    try:
        front = book.front_month(query.symbol)
    except KeyError:
        return []
    if query.exchange and query.exchange.upper() not in front.valid_exchanges:
        return []
    return [front]


def to_usd(inst: Instrument, amount: Decimal) -> Decimal:
    """An amount in the instrument's currency, in the USD base."""
    return amount * FX_TO_USD.get(inst.currency, Decimal(1))
