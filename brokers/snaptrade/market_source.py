"""SnapTrade's MarketDataSource: what its API has (quotes, per-currency balances); the rest UNSUPPORTED.

SnapTrade offers no historical bars and no P&L figures. Its options-chain endpoint is not
wired here (the simulator does not serve it), so option chains are unsupported as well, and
the capability says so. Quotes for many symbols are one request; SnapTrade does not say
whether they are live or delayed, nor when they were taken, so they are marked `unknown`
and stamped with the time the answer arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from brokers.errors import ErrorCode, TradeError
from brokers.market_data import MarketDataSource, unsupported
from brokers.market_models import (
    AccountPnL,
    AccountSummary,
    Bars,
    CurrencySummary,
    MarketDataCapabilities,
    MarketDataKind,
    OptionChain,
    QuoteOutcome,
    Quotes,
    QuoteSnapshot,
)
from brokers.market_requests import BarsRequest
from brokers.models import BrokerProvider
from brokers.records import AccountBalance
from brokers.snaptrade.client import SnapTradeApi
from brokers.snaptrade.parsing import currency_code, dec, items, obj

PER_TICKER_RETRY = frozenset({ErrorCode.BROKER_REJECTED, ErrorCode.BROKER_ERROR})
"""A refused batch is asked again ticker by ticker; outages and rate limits are not multiplied."""
QUOTE_WORKERS = 8


class SnapTradeMarketData(MarketDataSource):
    market_data = MarketDataCapabilities(quotes=True, account_summary=True)
    _api: SnapTradeApi
    _call: Callable[..., Any]
    _reading: Callable[..., AbstractContextManager[None]]
    get_account_balance: Callable[[str], AccountBalance]

    def get_historical_bars(self, account_id: str, request: BarsRequest) -> Bars:
        raise unsupported("snaptrade", "historical bars", "the SnapTrade API has no price-history endpoint")

    def get_pnl(self, account_id: str) -> AccountPnL:
        raise unsupported("snaptrade", "P&L", "the SnapTrade API reports positions and balances, not P&L figures")

    def get_option_chain(self, account_id: str, underlying: str, expiry: str | None) -> OptionChain:
        raise unsupported("snaptrade", "option chains", "this module does not read SnapTrade's options chain yet")

    def get_quotes(self, account_id: str, tickers: tuple[str, ...]) -> Quotes:
        """One request for all; if SnapTrade refuses the batch (one bad symbol can do that), one per ticker."""
        try:
            found, arrived = self._quote_batch(account_id, tickers)
        except TradeError as exc:
            if len(tickers) == 1 or exc.code not in PER_TICKER_RETRY:
                raise
            with ThreadPoolExecutor(max_workers=min(len(tickers), QUOTE_WORKERS)) as pool:
                singles = list(pool.map(lambda t: self._quote_alone(account_id, t), tickers))
            return Quotes(account_id=account_id, provider=BrokerProvider.SNAPTRADE, quotes=singles,
                          fetched_at=datetime.now(UTC))
        outcomes = [QuoteOutcome(ticker=t, quote=found[t]) if t in found else _missing(t) for t in tickers]
        return Quotes(account_id=account_id, provider=BrokerProvider.SNAPTRADE, quotes=outcomes, fetched_at=arrived)

    def _quote_batch(self, account_id: str, tickers: tuple[str, ...]) -> tuple[dict[str, QuoteSnapshot], datetime]:
        with self._reading("get quotes", ErrorCode.ACCOUNT_NOT_FOUND):
            body = self._call(self._api.sdk.trading.get_user_account_quotes, symbols=",".join(tickers),
                              account_id=account_id, use_ticker=True)
            arrived = datetime.now(UTC)
            return dict(_quotes(body, arrived)), arrived

    def _quote_alone(self, account_id: str, ticker: str) -> QuoteOutcome:
        try:
            found, _ = self._quote_batch(account_id, (ticker,))
        except TradeError as exc:
            return QuoteOutcome(ticker=ticker, error=exc.to_dict())
        return QuoteOutcome(ticker=ticker, quote=found[ticker]) if ticker in found else _missing(ticker)

    def get_account_summary(self, account_id: str) -> AccountSummary:
        balance = self.get_account_balance(account_id)
        with self._reading("get balances", ErrorCode.ACCOUNT_NOT_FOUND):
            body = self._call(self._api.sdk.account_information.get_user_account_balance, account_id=account_id)
            ledgers = [
                CurrencySummary(currency=currency_code(e.get("currency"), balance.currency),
                                cash=dec(e.get("cash"), "cash"), buying_power=dec(e.get("buying_power"), "bp"))
                for e in items(body)
            ]
        return AccountSummary(
            account_id=account_id, provider=BrokerProvider.SNAPTRADE, currency=balance.currency,
            net_liquidation=balance.net_liquidation, cash=balance.cash, buying_power=balance.buying_power,
            by_currency=ledgers, fetched_at=datetime.now(UTC),
        )


def _missing(ticker: str) -> QuoteOutcome:
    error = TradeError(ErrorCode.SYMBOL_NOT_FOUND, f"SnapTrade has no quote for {ticker}", {"ticker": ticker})
    return QuoteOutcome(ticker=ticker, error=error.to_dict())


def _quotes(body: Any, arrived: datetime) -> Iterator[tuple[str, QuoteSnapshot]]:
    for item in items(body):
        symbol = obj(item.get("symbol"))
        ticker = str(symbol.get("symbol") or symbol.get("raw_symbol") or "").upper()
        if not ticker:
            continue
        yield ticker, QuoteSnapshot(
            ticker=ticker, bid=dec(item.get("bid_price"), "bid_price"), bid_size=dec(item.get("bid_size"), "bid_size"),
            ask=dec(item.get("ask_price"), "ask_price"), ask_size=dec(item.get("ask_size"), "ask_size"),
            last=dec(item.get("last_trade_price"), "last_trade_price"),
            last_size=dec(item.get("last_trade_size"), "last_trade_size"),
            currency=currency_code(symbol.get("currency")), timestamp=arrived, market_data=MarketDataKind.UNKNOWN,
        )
