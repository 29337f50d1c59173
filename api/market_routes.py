"""Market-data reads over HTTP: bars, quotes, P&L, account summary, option chains (issue 17's calls).

The service's `get_*` market calls parse their own arguments into canonical requests (one parser
for the CLI, MCP and here), so these routes only pass the query strings through.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.errors import ERROR_RESPONSES
from api.models import service_result
from api.routes import AccountPath, ServiceCalls, TickerQuery
from telemetry.calls import note_arguments


def market_router(calls: ServiceCalls) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES, tags=["market"])

    @router.get("/accounts/{account_id}/bars", response_model=service_result("get_historical_bars"))
    async def get_bars(
        account_id: AccountPath,
        ticker: TickerQuery,
        bar_size: Annotated[str, Query(max_length=16, description="e.g. '1 min', '1 hour', '1 day'.")] = "1 day",
        duration: Annotated[str, Query(max_length=16, description="e.g. '1 D', '1 M', '1 Y'.")] = "1 M",
        what_to_show: Annotated[str, Query(max_length=32)] = "TRADES",
        rth_only: bool = True,
        end: Annotated[str | None, Query(max_length=40, description="ISO time of the last bar; now if unset.")] = None,
    ) -> Any:
        """Historical bars of one instrument."""
        note_arguments(bar_size=bar_size, duration=duration)
        return await calls.read(lambda svc: svc.get_historical_bars(
            account_id, ticker, bar_size, duration, what_to_show, rth_only, end))

    @router.get("/accounts/{account_id}/quotes", response_model=service_result("get_quotes"))
    async def get_quotes(
        account_id: AccountPath,
        tickers: Annotated[list[str], Query(min_length=1, max_length=50,
                                            description="Repeat the parameter or separate tickers by commas.")],
    ) -> Any:
        """Quotes of several instruments; one that fails carries its own error, the rest still answer."""
        wanted = [part.strip() for value in tickers for part in value.split(",") if part.strip()]
        return await calls.read(lambda svc: svc.get_quotes(account_id, wanted))

    @router.get("/accounts/{account_id}/pnl", response_model=service_result("get_pnl"))
    async def get_pnl(account_id: AccountPath) -> Any:
        """Daily, unrealized and realized P&L of the account and of each position."""
        return await calls.read(lambda svc: svc.get_pnl(account_id))

    @router.get("/accounts/{account_id}/summary", response_model=service_result("get_account_summary"))
    async def get_account_summary(account_id: AccountPath) -> Any:
        """Net liquidation, cash, buying power, margin, per currency."""
        return await calls.read(lambda svc: svc.get_account_summary(account_id))

    @router.get("/accounts/{account_id}/options/{underlying}", response_model=service_result("get_option_chain"))
    async def get_option_chain(
        account_id: AccountPath,
        underlying: Annotated[str, Path(min_length=1, max_length=64, description="Underlying ticker, e.g. SPY.")],
        expiry: Annotated[str | None, Query(max_length=8, description="YYYYMMDD; unset: the expiries only.")] = None,
    ) -> Any:
        """Option expiries and strikes of an underlying; with `expiry`, that expiry's contracts."""
        return await calls.read(lambda svc: svc.get_option_chain(account_id, underlying, expiry))

    return router
