"""The trade routes: the service's calls over HTTP, one route per call, under `/v1`.

Each handler parses its input once (FastAPI + the service's own models), then runs the
synchronous service on a worker thread with a deadline. A deadline that passes during an
execute or a cancel does not stop the call: the worker finishes and records the outcome,
and the client is told the outcome is unknown (check the order) rather than invited to retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Body, Path, Query

from api.errors import ERROR_RESPONSES
from api.models import AccountsOverview, ExecuteRequest, PreviewBody, service_result
from brokers.errors import ErrorCode, OrderOutcomeUnknown, TradeError
from brokers.user_context import parse_user_email, scoped_to
from mcp_tools.runtime import ServiceProvider
from services.notional import NotionalOrder, parse_order_or_notional
from services.trade_execution import TradeExecutionService
from telemetry.calls import note_arguments

T = TypeVar("T")
AccountPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$",
                                  description="An account id from GET /v1/accounts.")]
TickerQuery = Annotated[str, Query(min_length=1, max_length=64, description="Ticker symbol, e.g. AAPL.")]
OrderIdPath = Annotated[uuid.UUID, Path(description="The order_id an execute or GET /v1/orders returned.")]
UserQuery = Annotated[str | None, Query(max_length=254, description=(
    "Optional: the platform user (email) the call acts for: the broker is asked with that user's credentials, a "
    "preview is recorded as theirs, and another user's preview or order is answered as not found."))]


def for_user(user_email: str | None, call: Callable[[], T]) -> T:
    """Run one service call as the platform user (their broker credentials); None keeps the default."""
    with scoped_to(parse_user_email(user_email)):
        return call()


class ServiceCalls:
    """Runs service calls off the event loop, each within `timeout` seconds."""

    def __init__(self, provider: ServiceProvider, timeout: float) -> None:
        self.provider = provider
        self.timeout = timeout

    async def read(self, work: Callable[[TradeExecutionService], T]) -> T:
        try:
            with anyio.fail_after(self.timeout):
                return await anyio.to_thread.run_sync(lambda: work(self.provider.get()), abandon_on_cancel=True)
        except TimeoutError:
            raise TradeError(
                ErrorCode.BROKER_UNAVAILABLE, f"no answer within {self.timeout:g} seconds; nothing was changed",
                {"timeout_seconds": self.timeout},
            ) from None

    async def change(self, work: Callable[[TradeExecutionService], T], **ids: str) -> T:
        """Like read, but a timeout may leave a placement or cancel in flight: say so, never 'nothing happened'."""
        try:
            with anyio.fail_after(self.timeout):
                return await anyio.to_thread.run_sync(lambda: work(self.provider.get()), abandon_on_cancel=True)
        except TimeoutError:
            raise OrderOutcomeUnknown(
                f"no answer within {self.timeout:g} seconds; the request is still being processed and its outcome "
                "is recorded when it finishes. Do not repeat it: look the order up with GET /v1/orders.",
                {**ids, "timeout_seconds": self.timeout},
            ) from None


def trade_router(calls: ServiceCalls) -> APIRouter:
    """The `/v1` routes; `dependencies` (e.g. the bearer check) are added by the caller's include_router."""
    router = APIRouter(responses=ERROR_RESPONSES)

    @router.get("/accounts", response_model=AccountsOverview, tags=["accounts"])
    async def list_accounts(user_email: UserQuery = None) -> AccountsOverview:
        """Every account the configured brokers can trade, and whether orders can be placed now."""

        def work(svc: TradeExecutionService) -> AccountsOverview:
            report = svc.tradeable_accounts()
            accounts = report.accounts
            return AccountsOverview(
                accounts=accounts, broker_errors=report.broker_errors, count=len(accounts),
                trading_mode=svc.settings.trading_mode.value,
                orders_enabled=svc.settings.orders_enabled, trading_blocked=svc.settings.trading_block_reason(),
            )

        return await calls.read(lambda svc: for_user(user_email, lambda: work(svc)))

    @router.get("/accounts/{account_id}/symbols", response_model=service_result("search_symbol"), tags=["market"])
    async def search_symbol(account_id: AccountPath, ticker: TickerQuery, user_email: UserQuery = None) -> Any:
        """Instruments matching a ticker at the account's broker."""
        return await calls.read(lambda svc: for_user(user_email, lambda: svc.search_symbol(account_id, ticker)))

    @router.get("/accounts/{account_id}/quote", response_model=service_result("get_quote"), tags=["market"])
    async def get_quote(account_id: AccountPath, ticker: TickerQuery, user_email: UserQuery = None) -> Any:
        """The broker's current quote for a ticker."""
        return await calls.read(lambda svc: for_user(user_email, lambda: svc.get_quote(account_id, ticker)))

    @router.get("/accounts/{account_id}/balance", response_model=service_result("get_account_balance"),
                tags=["accounts"])
    async def get_balance(account_id: AccountPath, user_email: UserQuery = None) -> Any:
        """Cash, buying power and net liquidation of one account."""
        return await calls.read(lambda svc: for_user(user_email, lambda: svc.get_account_balance(account_id)))

    @router.get("/accounts/{account_id}/positions", response_model=service_result("get_positions"),
                tags=["accounts"])
    async def get_positions(account_id: AccountPath, user_email: UserQuery = None) -> Any:
        """Holdings of one account."""
        return await calls.read(lambda svc: for_user(user_email, lambda: svc.get_positions(account_id)))

    @router.post("/previews", response_model=service_result("preview_trade"), status_code=201, tags=["trading"])
    async def preview(body: Annotated[PreviewBody, Body()], user_email: UserQuery = None) -> Any:
        """Check and price an order (a quantity, or a cash amount as notional) and store it as a preview;
        nothing is sent to the broker.

        Show the result to a human; execute it (by its preview_id) only after they confirm.
        """
        order = parse_order_or_notional(**body)
        if isinstance(order, NotionalOrder):  # its quantity is a placeholder until the broker's estimate
            note_arguments(**{**order.terms.model_dump(), "quantity": None})
        else:
            note_arguments(**order.model_dump())
        return await calls.read(lambda svc: for_user(user_email, lambda: svc.preview_request(order)))

    @router.post("/executions", response_model=service_result("execute_trade"), tags=["trading"])
    async def execute(request: ExecuteRequest, user_email: UserQuery = None) -> Any:
        """Place a confirmed preview exactly once. Takes the preview id only; the terms are the stored preview's."""
        preview_id = str(request.preview_id)
        note_arguments(preview_id=preview_id)
        return await calls.change(lambda svc: svc.execute_trade(preview_id, user_email=user_email),
                                  preview_id=preview_id)

    @router.get("/orders", response_model=service_result("get_orders"), tags=["orders"])
    async def list_orders(
        account_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        state: Literal["all", "open", "executed"] = "all",
        days: Annotated[int, Query(ge=1, le=3650)] = 30,
        user_email: UserQuery = None,
    ) -> Any:
        """Orders placed through this module (and, where the service merges them, the broker's own)."""
        return await calls.read(lambda svc: svc.get_orders(account_id, state, days, user_email=user_email))

    @router.get("/orders/{order_id}", response_model=service_result("get_order_status"), tags=["orders"])
    async def order_status(order_id: OrderIdPath, user_email: UserQuery = None) -> Any:
        """One order's current status (re-checked at the broker when it is not final)."""
        return await calls.read(lambda svc: svc.get_order_status(str(order_id), user_email=user_email))

    @router.post("/orders/{order_id}/cancel", response_model=service_result("cancel_order"), tags=["orders"])
    async def cancel(order_id: OrderIdPath, user_email: UserQuery = None) -> Any:
        """Ask the broker to cancel a working order."""
        order = str(order_id)
        return await calls.change(lambda svc: svc.cancel_order(order, user_email=user_email), order_id=order)

    return router

