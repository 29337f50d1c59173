"""The simulator's listings beyond US stocks and futures: option chains (SPY, and SPX index options on
CBOE), a non-US stock (VOD on LSE in GBP), and continuous-future qualification (secType CONTFUT).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from .instruments import ContractQuery, Instrument, monthly_expiry

if TYPE_CHECKING:
    from .instruments import InstrumentBook

FX_TO_USD: dict[str, Decimal] = {"USD": Decimal(1), "GBP": Decimal("1.27")}
"""The simulator's fixed exchange rates: a non-USD listing's values count in the USD base at this rate."""
CONTINUOUS = "CONTFUT"


@dataclass(frozen=True)
class Chain:
    """One expiry of calls and puts on an underlying (multiplier 100, IB's option commission)."""

    underlying: str
    strikes: tuple[str, ...]
    time_value: Decimal
    first_con_id: int
    exchange: str
    valid_exchanges: tuple[str, ...]
    min_tick: Decimal


CHAINS = (
    Chain("SPY", ("480", "490", "500", "510", "520"), Decimal("4.00"), 800000001, "SMART",
          ("SMART", "CBOE", "AMEX", "ISE", "PHLX", "BOX"), Decimal("0.01")),
    Chain("SPX", ("4900", "4950", "5000", "5050", "5100"), Decimal("40.00"), 810000001, "CBOE",
          ("SMART", "CBOE"), Decimal("0.05")),
)


def vod() -> tuple[Instrument, Decimal]:
    """Vodafone on the London Stock Exchange, in GBP (IB: SMART-routable, primary LSE)."""
    return Instrument(
        12087820, "VOD", "STK", "VODAFONE GROUP PLC", Decimal("0.02"), exchange="SMART",
        valid_exchanges=("SMART", "LSE"), primary_exchange="LSE", exec_exchange="LSE", currency="GBP",
        local_symbol="VOD", trading_class="VOD", stock_type="COMMON", category="Telecommunications",
        commission_per_unit=Decimal("0.01"), commission_min=Decimal("3.00"), commission_max_pct=None,
    ), Decimal("72.00")


def option_chain(chain: Chain, underlying: Instrument, expiry: dt.date) -> list[tuple[Instrument, Decimal]]:
    """Each strike's call and put, priced at intrinsic value plus the chain's time value."""
    spot = underlying.quote.last or Decimal(0)
    listed: list[tuple[Instrument, Decimal]] = []
    con_id = chain.first_con_id
    for strike_text in chain.strikes:
        strike = Decimal(strike_text)
        for right in ("C", "P"):
            intrinsic = max(Decimal(0), spot - strike if right == "C" else strike - spot)
            inst = Instrument(
                con_id, chain.underlying, "OPT", underlying.long_name, chain.min_tick, exchange=chain.exchange,
                valid_exchanges=chain.valid_exchanges, exec_exchange="CBOE",
                last_trade_date=f"{expiry:%Y%m%d}", strike=strike, right=right, multiplier="100",
                local_symbol=f"{chain.underlying:<6}{expiry:%y%m%d}{right}{int(strike * 1000):08d}",
                trading_class=chain.underlying, under_con_id=underlying.con_id, under_symbol=chain.underlying,
                under_sec_type=underlying.sec_type, commission_per_unit=Decimal("0.65"),
                commission_max_pct=None, quote_size=Decimal(10), underlying=underlying,
            )
            listed.append((inst, intrinsic + chain.time_value))
            con_id += 1
    return listed


def option_and_foreign_listings(book: InstrumentBook) -> list[tuple[Instrument, Decimal]]:
    """What InstrumentBook adds after its stocks, index and futures: the option chains and VOD."""
    expiry = monthly_expiry(book.today)
    chains = [listing for chain in CHAINS for listing in option_chain(chain, book.lookup(chain.underlying), expiry)]
    return [*chains, vod()]


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
