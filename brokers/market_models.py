"""Market data and account analytics types, shared by adapters, the service and the tools.

Prices and money are Decimal, times are timezone-aware. Each result carries `fetched_at`, so a
caller served from the short read cache can tell how old the figures are.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from brokers.models import BrokerProvider
from brokers.records import BrokerModel


class MarketDataCapabilities(BrokerModel):
    """Which reads a broker offers; the others answer UNSUPPORTED with the reason."""

    historical_bars: bool = False
    quotes: bool = False
    pnl: bool = False
    account_summary: bool = False
    option_chain: bool = False


class MarketDataKind(StrEnum):
    """What kind of data a quote is: IB's market data types 1-4, or unknown when the broker does not say."""

    LIVE = "live"
    FROZEN = "frozen"
    DELAYED = "delayed"
    DELAYED_FROZEN = "delayed_frozen"
    UNKNOWN = "unknown"


class Bar(BrokerModel):
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None = None


class Bars(BrokerModel):
    account_id: str
    provider: BrokerProvider
    ticker: str
    bar_size: str
    duration: str
    what_to_show: str
    rth_only: bool
    end: datetime | None = None
    currency: str = "USD"
    head_timestamp: datetime | None = None
    """The earliest data the broker has for this contract and kind of data."""
    bars: list[Bar] = Field(default_factory=list)
    fetched_at: datetime

    @property
    def count(self) -> int:
        return len(self.bars)


class QuoteSnapshot(BrokerModel):
    ticker: str
    bid: Decimal | None = None
    bid_size: Decimal | None = None
    ask: Decimal | None = None
    ask_size: Decimal | None = None
    last: Decimal | None = None
    last_size: Decimal | None = None
    close: Decimal | None = None
    currency: str = "USD"
    timestamp: datetime
    market_data: MarketDataKind = MarketDataKind.UNKNOWN


class QuoteOutcome(BrokerModel):
    """One ticker of a batch: a quote, or the structured error that ticker alone got."""

    ticker: str
    quote: QuoteSnapshot | None = None
    error: dict[str, object] | None = None


class Quotes(BrokerModel):
    account_id: str
    provider: BrokerProvider
    quotes: list[QuoteOutcome]
    fetched_at: datetime


class PnLFigures(BrokerModel):
    daily: Decimal | None = None
    unrealized: Decimal | None = None
    realized: Decimal | None = None


class PositionPnL(BrokerModel):
    ticker: str
    broker_symbol_id: str
    quantity: Decimal | None = None
    market_value: Decimal | None = None
    daily: Decimal | None = None
    unrealized: Decimal | None = None
    realized: Decimal | None = None


class AccountPnL(BrokerModel):
    account_id: str
    provider: BrokerProvider
    currency: str = "USD"
    daily: Decimal | None = None
    unrealized: Decimal | None = None
    realized: Decimal | None = None
    positions: list[PositionPnL] = Field(default_factory=list)
    positions_total: PnLFigures
    """The sum over open positions. Realized P&L of positions closed today is in the account figure only."""
    fetched_at: datetime


class CurrencySummary(BrokerModel):
    currency: str
    cash: Decimal | None = None
    net_liquidation: Decimal | None = None
    buying_power: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None
    exchange_rate: Decimal | None = None
    """Units of the base currency per unit of this one."""


class AccountSummary(BrokerModel):
    account_id: str
    provider: BrokerProvider
    currency: str
    net_liquidation: Decimal | None = None
    cash: Decimal | None = None
    buying_power: Decimal | None = None
    available_funds: Decimal | None = None
    excess_liquidity: Decimal | None = None
    initial_margin: Decimal | None = None
    maintenance_margin: Decimal | None = None
    equity_with_loan: Decimal | None = None
    by_currency: list[CurrencySummary] = Field(default_factory=list)
    fetched_at: datetime


class Greeks(BrokerModel):
    implied_volatility: Decimal | None = None
    delta: Decimal | None = None
    gamma: Decimal | None = None
    vega: Decimal | None = None
    theta: Decimal | None = None
    underlying_price: Decimal | None = None


class OptionQuote(BrokerModel):
    ticker: str
    """The option in the module's ticker notation, e.g. 'SPY 20251219 500 C' (usable in preview_trade)."""
    broker_symbol_id: str
    expiry: str
    strike: Decimal
    right: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    greeks: Greeks | None = None
    market_data: MarketDataKind = MarketDataKind.UNKNOWN


class OptionChain(BrokerModel):
    account_id: str
    provider: BrokerProvider
    underlying: str
    underlying_price: Decimal | None = None
    multiplier: str | None = None
    exchanges: list[str] = Field(default_factory=list)
    expiries: list[str] = Field(default_factory=list)
    strikes: list[Decimal] = Field(default_factory=list)
    expiry: str | None = None
    """Set when one expiry was asked for: `contracts` is that expiry's slice."""
    contracts: list[OptionQuote] = Field(default_factory=list)
    fetched_at: datetime
