"""Errors a model can fix itself, made specific: the account it probably meant, the symbols near the one it gave.

Best effort and read-only: a lookup that fails leaves the error as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from brokers.errors import ErrorCode, TradeError
from services.trade_execution import TradeExecutionService

log = logging.getLogger(__name__)
MAX_MATCHES = 5


def _account_meant(service: TradeExecutionService, given: str) -> list[dict[str, Any]]:
    """Accounts whose name, number or last four digits match what the caller passed as an id."""
    wanted = given.strip().lower()
    found = []
    for account in service.list_tradeable_accounts():
        names = {(account.name or "").lower(), (account.number or "").lower()}
        if wanted in names or (len(wanted) >= 4 and (account.number or "").lower().endswith(wanted)):
            found.append({"account_id": account.account_id, "name": account.name, "provider": account.provider})
    return found


def invalid_account(service: TradeExecutionService, error: TradeError, given: str) -> TradeError:
    """An account's name (or number) refused as account_id, with the id it names: a model often passes the name."""
    try:
        meant = _account_meant(service, given)
    except Exception as exc:  # a hint must never turn one error into another
        log.info("no account hint: %s", type(exc).__name__)
        return error
    if not meant:
        return error
    return TradeError(error.code, f"{error.message}; {given.strip()!r} names account_id {meant[0]['account_id']!r}: "
                      "pass that id", {**error.details, "did_you_mean": meant})


def _symbols_near(service: TradeExecutionService, account_id: str, ticker: str) -> list[dict[str, Any]]:
    matches = service.search_symbol(account_id, ticker)[:MAX_MATCHES]
    return [{"ticker": m.ticker, "description": m.description, "sec_type": m.sec_type} for m in matches]


def specific(service: TradeExecutionService, error: TradeError, arguments: Mapping[str, Any]) -> TradeError:
    """The same error, with what the caller probably meant in its details and message."""
    try:
        account = arguments.get("account_id")
        order = arguments.get("order") or arguments.get("target")  # preview_trade's terms, get_quote's target
        account = account if isinstance(account, str) else getattr(order, "account_id", None)
        ticker = arguments.get("ticker", getattr(order, "ticker", None))
        if error.code is ErrorCode.ACCOUNT_NOT_FOUND and isinstance(account, str):
            meant = _account_meant(service, account)
            if meant:
                return TradeError(error.code, f"{error.message}; did you mean account_id {meant[0]['account_id']!r}?",
                                  {**error.details, "did_you_mean": meant})
        if error.code is ErrorCode.SYMBOL_NOT_FOUND and isinstance(account, str) and isinstance(ticker, str):
            near = [m for m in _symbols_near(service, account, ticker) if m["ticker"] != ticker]
            if near:
                listed = ", ".join(m["ticker"] for m in near)
                return TradeError(error.code, f"{error.message}; near matches: {listed}",
                                  {**error.details, "near_matches": near})
    except Exception as exc:  # a hint must never turn one error into another
        log.info("no hint for %s: %s", error.code.value, type(exc).__name__)
    return error
