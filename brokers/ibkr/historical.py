"""Historical bars over reqHistoricalData, and IB's market-data errors as structured ones.

Intraday bars are asked for with formatDate=2 (epoch seconds), so their times arrive in UTC;
daily and longer bars arrive as plain dates and are placed at midnight in the contract's own
exchange time zone (from its contract details, cached per conId).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ib_async import IB, BarData, Contract, RequestError

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.contracts import ResolvedContract
from brokers.ibkr.decimals import to_decimal
from brokers.ibkr.status import NO_MARKET_DATA_CODES, NO_SECURITY_CODES
from brokers.market_models import Bar
from brokers.market_requests import BarsRequest

PACING_DEFAULT_WAIT_SECONDS = 15
"""IB documents no wait with a pacing violation; identical requests are refused for 15 s."""

_WAIT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", re.IGNORECASE)
_ZONES: dict[int, ZoneInfo] = {}


def market_data_error(exc: RequestError, ticker: str) -> TradeError:
    """IB's error codes and HMDS texts (code 162 covers several) mapped to stable codes."""
    text = exc.message
    lowered = text.lower()
    details: dict[str, object] = {"ticker": ticker, "ib_code": exc.code}
    if "pacing violation" in lowered:
        found = _WAIT.search(text)
        wait = float(found.group(1)) if found else PACING_DEFAULT_WAIT_SECONDS
        details.update(retry_after_seconds=wait, retry_after_source="gateway" if found else "ibkr_pacing_rules")
        return TradeError(ErrorCode.PACING_VIOLATION,
                          f"IBKR is pacing market-data requests; retry {ticker} in {wait:g} seconds", details)
    if exc.code in NO_MARKET_DATA_CODES or "permission" in lowered or "not subscribed" in lowered:
        return TradeError(ErrorCode.NO_MARKET_DATA_PERMISSION,
                          f"this IBKR account has no market data permission for {ticker} ({exc.code}: {text})",
                          details)
    if "no data" in lowered:
        return TradeError(ErrorCode.NO_DATA, f"IBKR has no data for {ticker} in that period", details)
    if exc.code in NO_SECURITY_CODES:
        return TradeError(ErrorCode.SYMBOL_NOT_FOUND, f"IBKR does not know the symbol {ticker}", details)
    return TradeError(ErrorCode.BROKER_ERROR, f"IBKR refused the market-data request ({exc.code}): {text}", details)


async def exchange_zone(ib: IB, con_id: int) -> ZoneInfo:
    """The contract's exchange time zone (IB names like 'US/Eastern'), UTC when IB does not say."""
    zone = _ZONES.get(con_id)
    if zone is None:
        details = await ib.reqContractDetailsAsync(Contract(conId=con_id))
        name = details[0].timeZoneId if details else ""
        try:
            zone = ZoneInfo(name) if name else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        _ZONES[con_id] = zone
    return zone


async def head_timestamp(ib: IB, resolved: ResolvedContract, request: BarsRequest) -> datetime | None:
    try:
        head = await ib.reqHeadTimeStampAsync(resolved.contract, request.what_to_show, request.rth_only, 2)
    except RequestError as exc:
        raise market_data_error(exc, request.ticker) from None
    if isinstance(head, datetime):
        return head if head.tzinfo is not None else head.replace(tzinfo=UTC)
    return None


async def fetch_bars(ib: IB, resolved: ResolvedContract, request: BarsRequest, timeout: float) -> list[Bar]:
    started = time.monotonic()
    try:
        raw = await ib.reqHistoricalDataAsync(
            resolved.contract, request.end or "", request.duration, request.bar_size, request.what_to_show,
            request.rth_only, formatDate=2, timeout=timeout,
        )
    except RequestError as exc:
        raise market_data_error(exc, request.ticker) from None
    if not raw:
        if time.monotonic() - started >= timeout:
            raise TradeError(ErrorCode.BROKER_UNAVAILABLE, f"IB Gateway sent no historical data for "
                             f"{request.ticker} within {timeout:g}s", {"ticker": request.ticker})
        raise TradeError(ErrorCode.NO_DATA, f"IBKR has no data for {request.ticker} in that period",
                         {"ticker": request.ticker})
    zone = await exchange_zone(ib, resolved.con_id) if isinstance(raw[0].date, date) and not isinstance(
        raw[0].date, datetime) else ZoneInfo("UTC")
    return [bar for bar in (_bar(b, zone) for b in raw) if bar is not None]


def _bar(raw: BarData, zone: ZoneInfo) -> Bar | None:
    stamp = raw.date
    if isinstance(stamp, datetime):
        when = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
    else:
        when = datetime(stamp.year, stamp.month, stamp.day, tzinfo=zone)
    prices = [to_decimal(v) for v in (raw.open, raw.high, raw.low, raw.close)]
    if any(p is None for p in prices):
        return None
    open_, high, low, close = (p for p in prices if p is not None)
    volume = to_decimal(raw.volume)
    return Bar(time=when, open=open_, high=high, low=low, close=close,
               volume=volume if volume is not None and volume >= 0 else None)
