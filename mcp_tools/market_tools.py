"""Market data and account analytics tools: bars, quotes, P&L, account summary, option chains. All read-only.

Arguments are parsed once here (the same parsers as the service), so the service gets the canonical
request; a broker without a capability answers UNSUPPORTED, saying why.
"""

# No `from __future__ import annotations` here: the registry reads these annotations as live objects.

from datetime import datetime
from typing import Annotated, Any

from mcp_types import ToolAnnotations

from brokers.market_requests import (
    BAR_SIZES,
    MAX_TICKERS,
    WHAT_TO_SHOW,
    BarsRequest,
    checked_bars_request,
    parse_bar_size,
    parse_duration,
    parse_end,
    parse_expiry,
    parse_rth_only,
    parse_tickers,
    parse_what_to_show,
)
from mcp_tools import arguments as args
from mcp_tools import outputs as out
from mcp_tools.registry import Arg, ToolRegistry
from services.trade_execution import TradeExecutionService

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
MARKET_TOOLS = ToolRegistry()
tool = MARKET_TOOLS.tool


def _drop_name(parse: Any) -> Any:
    return lambda _name, value: parse(value)


BarSize = Annotated[str, Arg({
    "type": "string", "minLength": 1, "maxLength": 32,
    "description": "Bar length. IBKR's values: " + ", ".join(f"'{b}'" for b in BAR_SIZES)
                   + ". Common forms such as '5m', '1h', 'daily' or 'weekly' are accepted too.",
}, _drop_name(parse_bar_size))]
Duration = Annotated[str, Arg({
    "type": "string", "minLength": 1, "maxLength": 32,
    "description": "How far back: '<n> S|D|W|M|Y' such as '1 D', '2 W', '1 M', '1 Y' (also '30 days', '1 month'). "
                   "At most 10000 bars per request.",
}, _drop_name(parse_duration))]
WhatToShow = Annotated[str, Arg({
    "type": "string", "enum": list(WHAT_TO_SHOW), "default": "TRADES",
    "description": "TRADES (default, with volume), MIDPOINT, BID, ASK, BID_ASK or ADJUSTED_LAST.",
}, _drop_name(parse_what_to_show))]
RthOnly = Annotated[bool, Arg({
    "type": "boolean", "default": True,
    "description": "true (default): regular trading hours only; false: include pre- and post-market bars.",
}, _drop_name(parse_rth_only))]
End = Annotated[datetime | None, Arg({
    "anyOf": [{"type": "string", "maxLength": 40}, {"type": "null"}], "default": None,
    "description": "Last bar's end, ISO-8601 ('2025-06-30' or '2025-06-30T16:00:00-04:00'); leave out for now.",
}, _drop_name(parse_end))]
Tickers = Annotated[tuple[str, ...], Arg({
    "type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "minItems": 1,
    "maxItems": MAX_TICKERS, "description": f"Up to {MAX_TICKERS} ticker symbols, e.g. ['AAPL', 'MSFT'].",
}, _drop_name(parse_tickers))]
Expiry = Annotated[str | None, Arg({
    "anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}], "default": None,
    "description": "One expiry (YYYYMMDD) to get that expiry's contracts with quotes and greeks; leave out for "
                   "the list of expiries and strikes only.",
}, _drop_name(parse_expiry))]


@tool("Historical bars", READ_ONLY, output=out.BarsResult)
def get_historical_bars(
    service: TradeExecutionService, account_id: args.AccountId, ticker: args.Ticker, bar_size: BarSize,
    duration: Duration, what_to_show: WhatToShow = "TRADES", rth_only: RthOnly = True, end: End = None,
) -> dict[str, Any]:
    """Price history of one ticker as bars {time, open, high, low, close, volume}: prices are decimal strings,
    times ISO-8601 with their zone. Errors: NO_MARKET_DATA_PERMISSION (the account has no data subscription),
    NO_DATA (nothing for that period), PACING_VIOLATION (the broker throttles history requests: wait
    details.retry_after_seconds, do not retry at once), UNSUPPORTED (the broker has no price history).
    Read-only."""
    request = checked_bars_request(BarsRequest(ticker, bar_size, duration, what_to_show, rth_only, end))
    bars = service.read_bars(account_id, request)
    return {**bars.model_dump(mode="json"), "count": bars.count}


@tool("Quotes for several tickers", READ_ONLY, output=out.QuotesResult)
def get_quotes(service: TradeExecutionService, account_id: args.AccountId, tickers: Tickers) -> dict[str, Any]:
    """Quotes for up to 50 tickers in one call: bid, ask and last with their sizes, a timestamp and
    market_data (live, frozen, delayed, delayed_frozen or unknown). Each ticker stands alone: one that fails
    has an 'error' ({error_code, message}) and the others still answer. Read-only."""
    quotes = service.read_quotes(account_id, tickers)
    failed = sum(1 for q in quotes.quotes if q.error is not None)
    return {**quotes.model_dump(mode="json"), "count": len(quotes.quotes), "failed": failed}


@tool("Profit and loss", READ_ONLY, output=out.PnLResult)
def get_pnl(service: TradeExecutionService, account_id: args.AccountId) -> dict[str, Any]:
    """Daily, unrealized and realized P&L of the account and of each open position (decimal strings), with
    positions_total, the sum over the positions (realized P&L of positions closed today is in the account
    figure only). UNSUPPORTED where the broker reports no P&L. Read-only."""
    return service.read_pnl(account_id).model_dump(mode="json")


@tool("Account summary and margin", READ_ONLY, output=out.AccountSummaryResult)
def get_account_summary(service: TradeExecutionService, account_id: args.AccountId) -> dict[str, Any]:
    """Net liquidation, cash, buying power, available funds, excess liquidity, initial and maintenance margin in
    the base currency, and by_currency: cash and net liquidation per currency with its exchange rate to the base
    currency (multi-currency accounts). Figures the broker does not report are null. Read-only."""
    return service.read_account_summary(account_id).model_dump(mode="json")


@tool("Option chain", READ_ONLY, output=out.OptionChainResult)
def get_option_chain(
    service: TradeExecutionService, account_id: args.AccountId, underlying: args.Ticker, expiry: Expiry = None,
) -> dict[str, Any]:
    """Listed option expiries and strikes for an underlying stock, ETF or index. With expiry, also that expiry's
    contracts nearest the underlying price with bid/ask/last and greeks (implied volatility, delta, gamma, vega,
    theta) when the broker has them; each contract's 'ticker' can be used with preview_trade. Read-only."""
    return service.read_option_chain(account_id, underlying, expiry).model_dump(mode="json")
