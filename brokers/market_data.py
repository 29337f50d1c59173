"""MarketDataSource: the read-only market data and analytics a broker may offer.

Kept apart from BrokerAdapter (orders) so that interface stays small; an adapter opts in by
also deriving from this one. What a broker's API lacks is `capabilities` False and the call
raises UNSUPPORTED, saying so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from brokers.errors import ErrorCode, TradeError
from brokers.market_models import AccountPnL, AccountSummary, Bars, MarketDataCapabilities, OptionChain, Quotes
from brokers.market_requests import BarsRequest
from brokers.models import BrokerProvider


class MarketDataSource(ABC):
    provider: BrokerProvider
    market_data: MarketDataCapabilities

    @abstractmethod
    def get_historical_bars(self, account_id: str, request: BarsRequest) -> Bars: ...
    @abstractmethod
    def get_quotes(self, account_id: str, tickers: tuple[str, ...]) -> Quotes: ...
    @abstractmethod
    def get_pnl(self, account_id: str) -> AccountPnL: ...
    @abstractmethod
    def get_account_summary(self, account_id: str) -> AccountSummary: ...
    @abstractmethod
    def get_option_chain(self, account_id: str, underlying: str, expiry: str | None) -> OptionChain: ...


def unsupported(provider: str, what: str, reason: str) -> TradeError:
    return TradeError(ErrorCode.UNSUPPORTED, f"{provider} does not offer {what}: {reason}",
                      {"provider": provider, "capability": what})
