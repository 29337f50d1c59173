"""IBKR's MarketDataSource: bars, quotes, P&L, account summary and option chains over ib_async.

Mixed into IBKRBrokerAdapter, whose connection manager, operations (account check, contract
resolver) and timeout it uses. Every read is one coroutine run on the manager's loop thread.
Historical requests get a longer limit than other reads: IB answers them slowly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ib_async import IB

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.analytics import account_pnl, account_summary
from brokers.ibkr.connection import IBKRConnectionManager
from brokers.ibkr.historical import fetch_bars, head_timestamp
from brokers.ibkr.operations import IBKROperations
from brokers.ibkr.option_chain import option_chain
from brokers.ibkr.quotes import quote_many
from brokers.market_data import MarketDataSource
from brokers.market_models import (
    AccountPnL,
    AccountSummary,
    Bars,
    MarketDataCapabilities,
    OptionChain,
    Quotes,
)
from brokers.market_requests import BarsRequest
from brokers.models import BrokerProvider

HISTORICAL_MIN_SECONDS = 30.0
_HEADS: dict[tuple[int, str, bool], datetime | None] = {}
"""(conId, what_to_show, rth_only) -> earliest data; it does not change, so it is asked once."""


class IBKRMarketData(MarketDataSource):
    market_data = MarketDataCapabilities(
        historical_bars=True, quotes=True, pnl=True, account_summary=True, option_chain=True)
    manager: IBKRConnectionManager
    ops: IBKROperations
    timeout: float

    def get_historical_bars(self, account_id: str, request: BarsRequest) -> Bars:
        limit = max(self.timeout * 3, HISTORICAL_MIN_SECONDS)

        async def run(ib: IB) -> Bars:
            self.ops.check_account(ib, account_id)
            resolved = await self.ops.resolver.resolve(ib, request.ticker)
            key = (resolved.con_id, request.what_to_show, request.rth_only)
            if key not in _HEADS:
                _HEADS[key] = await head_timestamp(ib, resolved, request)
            head = _HEADS[key]
            if head is not None and request.end is not None and request.end < head:
                raise TradeError(ErrorCode.NO_DATA, f"IBKR's data for {request.ticker} starts at "
                                 f"{head.isoformat()}, after the requested end",
                                 {"ticker": request.ticker, "head_timestamp": head.isoformat()})
            bars = await fetch_bars(ib, resolved, request, limit - 1)
            return Bars(
                account_id=account_id, provider=BrokerProvider.IBKR, ticker=request.ticker,
                bar_size=request.bar_size, duration=request.duration, what_to_show=request.what_to_show,
                rth_only=request.rth_only, end=request.end, currency=resolved.currency, head_timestamp=head,
                bars=bars, fetched_at=datetime.now(UTC),
            )

        return self.manager.run_sync(run, timeout=limit)

    def get_quotes(self, account_id: str, tickers: tuple[str, ...]) -> Quotes:
        async def run(ib: IB) -> Quotes:
            self.ops.check_account(ib, account_id)
            outcomes = await quote_many(ib, self.ops.resolver, tickers, self.ops.snapshot_timeout)
            return Quotes(account_id=account_id, provider=BrokerProvider.IBKR, quotes=outcomes,
                          fetched_at=datetime.now(UTC))

        return self.manager.run_sync(run, timeout=self.timeout)

    def get_pnl(self, account_id: str) -> AccountPnL:
        async def run(ib: IB) -> AccountPnL:
            self.ops.check_account(ib, account_id)
            return await account_pnl(ib, account_id, self.timeout * 0.8)

        return self.manager.run_sync(run, timeout=self.timeout)

    def get_account_summary(self, account_id: str) -> AccountSummary:
        async def run(ib: IB) -> AccountSummary:
            self.ops.check_account(ib, account_id)
            return await account_summary(ib, account_id)

        return self.manager.run_sync(run, timeout=self.timeout)

    def get_option_chain(self, account_id: str, underlying: str, expiry: str | None) -> OptionChain:
        async def run(ib: IB) -> OptionChain:
            self.ops.check_account(ib, account_id)
            return await option_chain(ib, self.ops.resolver, account_id, underlying, expiry, self.timeout * 0.8)

        return self.manager.run_sync(run, timeout=self.timeout)
