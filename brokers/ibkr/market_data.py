"""Quotes from market-data snapshots, with the delayed-data fallback.

whatIf orders come back without a price, so previews price orders from a snapshot. An account
without a live subscription for a contract gets an error (354 and friends) or nothing at all;
then the snapshot is repeated as delayed data (market data type 3) and the quote says so.
"""

from __future__ import annotations

import asyncio
import logging

from ib_async import IB, RequestError, Ticker

from brokers.ibkr.contracts import ResolvedContract
from brokers.ibkr.decimals import to_price
from brokers.ibkr.status import NO_MARKET_DATA_CODES
from brokers.records import Quote

log = logging.getLogger(__name__)

LIVE, DELAYED = 1, 3
DELAYED_TYPES = frozenset({3, 4})


async def snapshot_quote(ib: IB, resolved: ResolvedContract, ticker: str, timeout: float) -> Quote:
    """A live snapshot, else a delayed one; a quote with no prices rather than an error when both fail."""
    live, refused = await _snapshot(ib, resolved, timeout)
    if live is not None and _has_price(live):
        return _quote(live, ticker, resolved, delayed=live.marketDataType in DELAYED_TYPES)
    log.info("no live market data for %s%s; trying delayed data", ticker, f" ({refused})" if refused else "")
    ib.reqMarketDataType(DELAYED)
    try:
        delayed, _ = await _snapshot(ib, resolved, timeout)
    finally:
        ib.reqMarketDataType(LIVE)
    if delayed is not None and _has_price(delayed):
        return _quote(delayed, ticker, resolved, delayed=True)
    return Quote(ticker=ticker, currency=resolved.currency, delayed=False)


async def _snapshot(ib: IB, resolved: ResolvedContract, timeout: float) -> tuple[Ticker | None, str | None]:
    """(ticker, reason it was refused). A slow snapshot keeps whatever ticks arrived in time."""
    try:
        tickers = await asyncio.wait_for(ib.reqTickersAsync(resolved.contract), timeout)
        return (tickers[0] if tickers else None), None
    except RequestError as exc:
        if exc.code in NO_MARKET_DATA_CODES:
            return None, f"{exc.code}: {exc.message}"
        raise
    except TimeoutError:
        return ib.ticker(resolved.contract), "timeout"


def _has_price(ticker: Ticker) -> bool:
    return any(to_price(v) is not None for v in (ticker.last, ticker.bid, ticker.ask, ticker.close))


def _quote(ticker: Ticker, label: str, resolved: ResolvedContract, *, delayed: bool) -> Quote:
    return Quote(
        ticker=label,
        bid=to_price(ticker.bid),
        ask=to_price(ticker.ask),
        last=to_price(ticker.last),
        close=to_price(ticker.close),
        currency=resolved.currency,
        delayed=delayed,
    )
