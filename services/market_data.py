"""Market data and account analytics on TradeExecutionService: bars, quotes, P&L, summary, option chains.

A mixin so the platform calls them on the one service object it already has. Arguments are
parsed once (here, or by the MCP tools with the same parsers, which then call `read_*`), the broker
is the adapter that owns the account, and answers are reused for a few seconds per
(account, request) because IB paces historical and option requests and SnapTrade rate-limits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from brokers.errors import ErrorCode, TradeError
from brokers.market_data import MarketDataSource, unsupported
from brokers.market_models import AccountPnL, AccountSummary, Bars, OptionChain, QuoteOutcome, Quotes
from brokers.market_requests import BarsRequest, parse_bars_request, parse_expiry, parse_tickers
from brokers.models import canonical_account_id, canonical_ticker
from services.read_cache import ReadCache
from services.routing import AdapterRouter
from services.structured_errors import structured as _reading
from settings import Settings

T = TypeVar("T")


class MarketDataReads:
    """Mixed into TradeExecutionService, which provides `router` and `settings`."""

    router: AdapterRouter
    settings: Settings
    _market_cache_instance: ReadCache | None = None
    _market_cache_lock = threading.Lock()

    @property
    def market_cache(self) -> ReadCache:
        with self._market_cache_lock:
            if self._market_cache_instance is None:
                self._market_cache_instance = ReadCache(self.settings.market_data_cache_seconds)
            return self._market_cache_instance

    def market_source(self, account_id: str) -> MarketDataSource:
        adapter = self.router.for_account(account_id)
        if not isinstance(adapter, MarketDataSource):
            raise unsupported(adapter.provider.value, "market data", "its adapter implements no market-data reads")
        return adapter

    # --- the platform's calls: any input, parsed here once -------------------------------------
    def get_historical_bars(
        self, account_id: Any, ticker: Any, bar_size: Any, duration: Any, what_to_show: Any = "TRADES",
        rth_only: Any = True, end: Any = None,
    ) -> Bars:
        return _reading(lambda: self.read_bars(canonical_account_id(account_id), parse_bars_request(
            canonical_ticker(ticker), bar_size, duration, what_to_show, rth_only, end)))

    def get_quotes(self, account_id: Any, tickers: Any) -> Quotes:
        """Each ticker is quoted on its own: one that fails carries its error, the rest still answer."""
        return _reading(lambda: self.read_quotes(canonical_account_id(account_id), parse_tickers(tickers)))

    def get_pnl(self, account_id: Any) -> AccountPnL:
        return _reading(lambda: self.read_pnl(canonical_account_id(account_id)))

    def get_account_summary(self, account_id: Any) -> AccountSummary:
        return _reading(lambda: self.read_account_summary(canonical_account_id(account_id)))

    def get_option_chain(self, account_id: Any, underlying: Any, expiry: Any = None) -> OptionChain:
        return _reading(lambda: self.read_option_chain(
            canonical_account_id(account_id), canonical_ticker(underlying, "underlying"), parse_expiry(expiry)))

    # --- canonical arguments (what the MCP tools have already parsed) ------------------------------
    def _cached(self, account: str, key: tuple[Any, ...], call: Callable[[MarketDataSource], T]) -> T:
        def run() -> T:
            source = self.market_source(account)
            return self.market_cache.get_or_load(account, key, lambda: call(source))

        return _reading(run)

    def read_bars(self, account: str, request: BarsRequest) -> Bars:
        return self._cached(account, ("bars", request), lambda s: s.get_historical_bars(account, request))

    def read_quotes(self, account: str, wanted: tuple[str, ...]) -> Quotes:
        def run() -> Quotes:
            source = self.market_source(account)
            cached = {t: self.market_cache.peek(account, ("quote", t)) for t in wanted}
            missing = tuple(t for t in wanted if cached[t] is None)
            fetched = source.get_quotes(account, missing) if missing else None
            outcomes = {o.ticker: o for o in (fetched.quotes if fetched else [])}
            for outcome in outcomes.values():
                if outcome.quote is not None:
                    self.market_cache.put(account, ("quote", outcome.ticker), outcome)
            merged = [cached[t] or outcomes.get(t) or _no_answer(t) for t in wanted]
            fetched_at = fetched.fetched_at if fetched else max(o.quote.timestamp for o in merged if o.quote)
            return Quotes(account_id=account, provider=source.provider, quotes=merged, fetched_at=fetched_at)

        return _reading(run)

    def read_pnl(self, account: str) -> AccountPnL:
        return self._cached(account, ("pnl",), lambda s: s.get_pnl(account))

    def read_account_summary(self, account: str) -> AccountSummary:
        return self._cached(account, ("summary",), lambda s: s.get_account_summary(account))

    def read_option_chain(self, account: str, underlying: str, expiry: str | None) -> OptionChain:
        return self._cached(account, ("options", underlying, expiry),
                            lambda s: s.get_option_chain(account, underlying, expiry))


def _no_answer(ticker: str) -> QuoteOutcome:
    error = TradeError(ErrorCode.BROKER_ERROR, f"the broker returned nothing for {ticker}", {"ticker": ticker})
    return QuoteOutcome(ticker=ticker, error=error.to_dict())


class MarketDataService(MarketDataReads):
    """The reads alone, without the order database: for the CLI's quote/bars/pnl/account commands."""

    def __init__(self, settings: Settings, adapters: list[Any]) -> None:
        self.settings = settings
        self.router = AdapterRouter(adapters)

    def single_account(self) -> str:
        """The account to use when none is named: refused unless exactly one is configured."""
        accounts = [a.account_id for adapter in self.router.adapters for a in adapter.list_accounts()]
        if len(accounts) != 1:
            raise TradeError(ErrorCode.VALIDATION_ERROR,
                             f"name the account (--account): {len(accounts)} accounts are configured"
                             + (f" ({', '.join(accounts[:10])})" if accounts else ""),
                             {"field": "account_id", "accounts": accounts[:50]})
        return accounts[0]

    def close(self) -> None:
        for adapter in self.router.adapters:
            adapter.close()
