"""get_quote for what an order can name: a ticker alone, or with preview_trade's instrument arguments
(a non-US listing such as VOD on LSE in GBP, a future's month, an option's expiry, strike and right)."""

from __future__ import annotations

from typing import Any

from brokers.quote_target import QuoteTarget, parse_quote_target
from brokers.records import Quote
from services.margin_checks import check_instrument_supported
from services.routing import AdapterRouter


def quote_target(ticker: Any, instrument: dict[str, Any]) -> QuoteTarget:
    """The parsed target: as the MCP tool already parsed it, or parsed here once (service callers, CLI, API)."""
    if isinstance(ticker, QuoteTarget) and not instrument:
        return ticker
    return parse_quote_target(ticker=ticker, **instrument)


def quote_for(router: AdapterRouter, account_id: str, target: QuoteTarget) -> Quote:
    """The broker's quote; an instrument the account's broker cannot name is refused as for an order."""
    adapter = router.for_account(account_id)
    if not target.names_instrument:
        return adapter.get_quote(account_id, target.ticker)  # '/ES' stays the continuous future
    check_instrument_supported(target, adapter.capabilities, adapter.provider.value)
    return adapter.get_quote(account_id, target.ticker, instrument=target.instrument)
