"""Many snapshot quotes at once, each with sizes, a timestamp and what kind of data it is.

All snapshots go out together and are awaited together; one that fails carries its own error.
The first round asks for market data type 2 (live, or frozen when the market is closed);
tickers refused for lack of a live subscription are asked again as type 4 (delayed, or
delayed-frozen). The type is switched and restored around the sends, never across an await,
so other requests on the shared connection keep live data.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from ib_async import IB, RequestError, Ticker

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.contracts import ContractResolver, ResolvedContract
from brokers.ibkr.decimals import to_decimal, to_price
from brokers.ibkr.historical import market_data_error
from brokers.ibkr.status import NO_MARKET_DATA_CODES
from brokers.market_models import Greeks, MarketDataKind, QuoteOutcome, QuoteSnapshot

LIVE, LIVE_OR_FROZEN, DELAYED_OR_FROZEN = 1, 2, 4
KINDS = {1: MarketDataKind.LIVE, 2: MarketDataKind.FROZEN, 3: MarketDataKind.DELAYED,
         4: MarketDataKind.DELAYED_FROZEN}

Snapshot = Ticker | TradeError


async def snapshots(ib: IB, contracts: list[ResolvedContract], data_type: int, timeout: float) -> list[Snapshot]:
    """One snapshot per contract, all in flight at once; a ticker or the error it got."""
    requests: list[tuple[int, Ticker, asyncio.Future[object], object]] = []
    ib.reqMarketDataType(data_type)
    try:
        for resolved in contracts:
            req_id = ib.client.getReqId()
            future = ib.wrapper.startReq(req_id, resolved.contract)
            ticker = ib.wrapper.startTicker(req_id, resolved.contract, "snapshot")
            ib.client.reqMktData(req_id, resolved.contract, "", True, False, [])
            requests.append((req_id, ticker, future, ticker.time))
    finally:
        if data_type != LIVE:
            ib.reqMarketDataType(LIVE)
    if requests:
        await asyncio.wait([f for _, _, f, _ in requests], timeout=timeout)
    results: list[Snapshot] = []
    for (req_id, ticker, future, last_tick_before), resolved in zip(requests, contracts, strict=True):
        ib.wrapper.endTicker(ticker, "snapshot")
        if not future.done():
            future.cancel()
            if ib.client.isConnected():
                ib.client.cancelMktData(req_id)
            fresh = ticker.time != last_tick_before and _has_price(ticker)  # ticks of this request, not older ones
            results.append(ticker if fresh else TradeError(
                ErrorCode.BROKER_UNAVAILABLE, f"no quote for {resolved.label} within {timeout:g}s",
                {"ticker": resolved.label}))
        elif future.exception() is not None:
            results.append(_refusal(future.exception(), resolved))
        else:
            results.append(ticker)
    return results


def _refusal(error: BaseException | None, resolved: ResolvedContract) -> TradeError:
    if isinstance(error, RequestError):
        return market_data_error(error, resolved.label)
    return TradeError(ErrorCode.BROKER_ERROR, f"quote for {resolved.label} failed", {"ticker": resolved.label})


def _has_price(ticker: Ticker) -> bool:
    return any(to_price(v) is not None for v in (ticker.last, ticker.bid, ticker.ask, ticker.close))


def is_unsubscribed(result: Snapshot) -> bool:
    return isinstance(result, TradeError) and result.details.get("ib_code") in NO_MARKET_DATA_CODES


async def quote_many(
    ib: IB, resolver: ContractResolver, tickers: tuple[str, ...], timeout: float
) -> list[QuoteOutcome]:
    resolved = await asyncio.gather(*(resolver.resolve(ib, t) for t in tickers), return_exceptions=True)
    known = [(t, r) for t, r in zip(tickers, resolved, strict=True) if isinstance(r, ResolvedContract)]
    results: dict[str, Snapshot] = dict(zip((t for t, _ in known), await snapshots(
        ib, [r for _, r in known], LIVE_OR_FROZEN, timeout), strict=True))
    retry = [(t, r) for t, r in known if is_unsubscribed(results[t])]
    if retry:
        again = await snapshots(ib, [r for _, r in retry], DELAYED_OR_FROZEN, timeout)
        results.update(zip((t for t, _ in retry), again, strict=True))
    outcomes: list[QuoteOutcome] = []
    for ticker, found in zip(tickers, resolved, strict=True):
        if not isinstance(found, ResolvedContract):
            error = found if isinstance(found, TradeError) else TradeError(
                ErrorCode.BROKER_ERROR, f"could not resolve {ticker}", {"ticker": ticker})
            outcomes.append(QuoteOutcome(ticker=ticker, error=error.to_dict()))
            continue
        result = results[ticker]
        if isinstance(result, TradeError):
            outcomes.append(QuoteOutcome(ticker=ticker, error=result.to_dict()))
        else:
            outcomes.append(QuoteOutcome(ticker=ticker, quote=snapshot_quote(ticker, found, result)))
    return outcomes


def snapshot_quote(label: str, resolved: ResolvedContract, ticker: Ticker) -> QuoteSnapshot:
    stamp = ticker.time if isinstance(ticker.time, datetime) else datetime.now(UTC)
    return QuoteSnapshot(
        ticker=label, bid=to_price(ticker.bid), bid_size=_size(ticker.bidSize), ask=to_price(ticker.ask),
        ask_size=_size(ticker.askSize), last=to_price(ticker.last), last_size=_size(ticker.lastSize),
        close=to_price(ticker.close), currency=resolved.currency,
        timestamp=stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC),
        market_data=KINDS.get(ticker.marketDataType, MarketDataKind.UNKNOWN),
    )


def greeks(ticker: Ticker) -> Greeks | None:
    model = ticker.modelGreeks or ticker.lastGreeks or ticker.bidGreeks or ticker.askGreeks
    if model is None:
        return None
    return Greeks(
        implied_volatility=to_decimal(model.impliedVol), delta=to_decimal(model.delta),
        gamma=to_decimal(model.gamma), vega=to_decimal(model.vega), theta=to_decimal(model.theta),
        underlying_price=to_price(model.undPrice),
    )


def _size(value: float | None) -> Decimal | None:
    size = to_decimal(value)
    return size if size is not None and size >= 0 else None
