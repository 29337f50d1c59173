"""The ten tools of DESIGN.md, mountable on any MCPServer with `register_tools(server, service)`.

Every tool checks its arguments first (so a bad argument writes nothing), then runs the
synchronous service on a worker thread, and answers with JSON or a structured tool error.
"""

# No `from __future__ import annotations` here: the SDK reads the annotations of these
# closures (the Resolve marker refers to a local object), so they must be real objects.

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import MCPServer, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation, ElicitationResult
from mcp_types import CallToolResult, ToolAnnotations

from brokers.errors import TradeError
from brokers.models import OrderSide, OrderStatus, OrderType, TimeInForce, parse_order_request
from mcp_tools import arguments as args
from mcp_tools.batch import BatchConfirmer, PreviewIds, batch_payload, preview_id_list
from mcp_tools.confirmation import ConfirmOrder, NotAsked, OrderConfirmer, refusal_without_confirmation
from mcp_tools.descriptions import DESCRIPTIONS, SERVER_INSTRUCTIONS
from mcp_tools.results import Redactor, failure, internal_error, ok, validation_error
from mcp_tools.runtime import ServiceFactory, ServiceProvider, secret_values
from services.order_store import new_event
from services.results import OrderView
from services.trade_execution import TradeExecutionService
from settings import Settings

__all__ = ["SERVER_INSTRUCTIONS", "TOOL_ARGUMENTS", "register_tools"]

Work = Callable[[TradeExecutionService], dict[str, Any]]
SIDES = [s.value for s in OrderSide]
ORDER_TYPES = [t.value for t in OrderType]
TIFS = [t.value for t in TimeInForce]
ORDER_STATES = ["all", "open", "executed", "cancelled"]


def _spec(required: str = "", optional: str = "") -> args.ToolArguments:
    return args.ToolArguments(frozenset(required.split()), frozenset(optional.split()))


TOOL_ARGUMENTS: dict[str, args.ToolArguments] = {
    "list_tradeable_accounts": _spec(),
    "search_symbol": _spec("account_id ticker"),
    "get_quote": _spec("account_id ticker"),
    "get_account_balance": _spec("account_id"),
    "get_positions": _spec("account_id"),
    "preview_trade": _spec("account_id ticker side quantity", "order_type limit_price stop_price time_in_force"),
    "execute_trade": _spec("preview_id"),
    "get_orders": _spec("", "account_id state days"),
    "get_order_status": _spec("order_id"),
    "cancel_order": _spec("order_id"),
    "execute_trades": _spec("preview_ids"),
}

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
PREVIEW = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
PLACE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)


def _ticker(value: Any) -> str:
    """The same ticker rule the service applies, checked before anything is called."""
    text = args.text("ticker", value)
    return parse_order_request(account_id="X", ticker=text, side="BUY", quantity=1).ticker


def _uuid_text(name: str, value: Any) -> str:
    text = args.text(name, value, max_length=64)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise validation_error(f"{name} is not a valid id (expected the UUID a tool returned)",
                                    field=name) from None


def _order_payload(view: OrderView) -> dict[str, Any]:
    payload = view.as_json()
    status = view.status
    simulated = status == OrderStatus.SIMULATED
    payload["simulated"] = simulated
    payload["placed"] = not simulated
    if view.new_preview is not None or (status == OrderStatus.EXPIRED and view.brokerage_order_id is None):
        payload["placed"] = False  # an expired preview: nothing placed, new_preview re-quotes it
    elif simulated:
        payload["message"] = (
            "SIMULATED: ORDERS_ENABLED is false, so the order was recorded but NOT sent to the broker. "
            "Nothing was bought or sold."
        )
    elif status == OrderStatus.UNKNOWN:
        payload["message"] = (
            "The broker did not confirm in time: the order MAY have been placed. Do not execute again; "
            "check get_order_status(order_id) shortly."
        )
    elif view.source == "brokerage":
        payload["placed"] = False  # not placed through this module
    elif view.message is None:
        payload["message"] = f"Order sent to {view.broker_provider}; status {status}."
    return payload


def register_tools(
    server: MCPServer[Any],
    service: TradeExecutionService | ServiceFactory | ServiceProvider,
    *,
    settings: Settings | None = None,
) -> ServiceProvider:
    """Add the trade tools to `server`, backed by `service` (an instance, or a factory called on first use).

    Returns the provider so the caller can warm it up or close it.
    """
    provider = ServiceProvider.of(service)
    redact = Redactor()
    known = settings or (provider.built.settings if provider.built is not None else None)
    if known is not None:
        redact.add(*secret_values(known))
    confirmer = OrderConfirmer(provider)
    server.middleware.append(args.ArgumentGuard(TOOL_ARGUMENTS))

    def obtain() -> TradeExecutionService:
        built = provider.get()
        if known is None:
            redact.add(*secret_values(built.settings))
        return built

    async def run(tool: str, work: Work) -> CallToolResult:
        try:
            payload = await anyio.to_thread.run_sync(lambda: work(obtain()))
        except TradeError as exc:
            return failure(exc, redact)
        except Exception as exc:
            return failure(internal_error(tool, exc), redact)
        return ok(payload, redact)

    def refused(exc: TradeError) -> CallToolResult:
        return failure(exc, redact)

    async def list_tradeable_accounts(unexpected_arguments: args.Unexpected = None) -> CallToolResult:
        try:
            args.gather(unexpected_arguments)
        except TradeError as exc:
            return refused(exc)

        def work(svc: TradeExecutionService) -> dict[str, Any]:
            accounts = [a.model_dump(mode="json") for a in svc.list_tradeable_accounts()]
            return {
                "accounts": accounts, "count": len(accounts),
                "trading_mode": svc.settings.trading_mode.value, "orders_enabled": svc.settings.orders_enabled,
                "trading_blocked": svc.settings.trading_block_reason(),
            }

        return await run("list_tradeable_accounts", work)

    async def search_symbol(
        account_id: args.AccountId, ticker: args.Ticker, unexpected_arguments: args.Unexpected = None
    ) -> CallToolResult:
        try:
            got = args.gather(unexpected_arguments, account_id=lambda: args.text("account_id", account_id),
                              ticker=lambda: _ticker(ticker))
        except TradeError as exc:
            return refused(exc)

        def work(svc: TradeExecutionService) -> dict[str, Any]:
            matches = [m.model_dump(mode="json") for m in svc.search_symbol(got["account_id"], got["ticker"])]
            return {**got, "matches": matches, "count": len(matches)}

        return await run("search_symbol", work)

    async def get_quote(
        account_id: args.AccountId, ticker: args.Ticker, unexpected_arguments: args.Unexpected = None
    ) -> CallToolResult:
        try:
            got = args.gather(unexpected_arguments, account_id=lambda: args.text("account_id", account_id),
                              ticker=lambda: _ticker(ticker))
        except TradeError as exc:
            return refused(exc)

        def work(svc: TradeExecutionService) -> dict[str, Any]:
            quote = svc.get_quote(got["account_id"], got["ticker"])
            price = quote.reference_price
            return {"account_id": got["account_id"], **quote.model_dump(mode="json"),
                    "reference_price": None if price is None else str(price)}

        return await run("get_quote", work)

    async def get_account_balance(
        account_id: args.AccountId, unexpected_arguments: args.Unexpected = None
    ) -> CallToolResult:
        try:
            account = args.gather(unexpected_arguments, a=lambda: args.text("account_id", account_id))["a"]
        except TradeError as exc:
            return refused(exc)
        return await run("get_account_balance", lambda svc: svc.get_account_balance(account).model_dump(mode="json"))

    async def get_positions(account_id: args.AccountId, unexpected_arguments: args.Unexpected = None) -> CallToolResult:
        try:
            account = args.gather(unexpected_arguments, a=lambda: args.text("account_id", account_id))["a"]
        except TradeError as exc:
            return refused(exc)

        def work(svc: TradeExecutionService) -> dict[str, Any]:
            positions = [p.model_dump(mode="json") for p in svc.get_positions(account)]
            return {"account_id": account, "positions": positions, "count": len(positions)}

        return await run("get_positions", work)

    async def preview_trade(
        account_id: args.AccountId,
        ticker: args.Ticker,
        side: args.Side,
        quantity: args.Quantity,
        order_type: args.OrderTypeArg = "Market",
        limit_price: args.LimitPrice = None,
        stop_price: args.StopPrice = None,
        time_in_force: args.TimeInForceArg = "Day",
        unexpected_arguments: args.Unexpected = None,
    ) -> CallToolResult:
        try:
            fields = args.gather(
                unexpected_arguments,
                account_id=lambda: args.text("account_id", account_id),
                ticker=lambda: _ticker(ticker),
                side=lambda: args.choice("side", side, SIDES, None),
                quantity=lambda: args.number("quantity", quantity, required=True),
                order_type=lambda: args.choice("order_type", order_type, ORDER_TYPES, "Market"),
                limit_price=lambda: args.number("limit_price", limit_price, required=False),
                stop_price=lambda: args.number("stop_price", stop_price, required=False),
                time_in_force=lambda: args.choice("time_in_force", time_in_force, TIFS, "Day"),
            )
            parse_order_request(**fields)  # the whole order is checked before the service writes anything
        except TradeError as exc:
            return refused(exc)

        def work(svc: TradeExecutionService) -> dict[str, Any]:
            view = svc.preview_trade(**fields)
            return {
                **view.as_json(),
                "orders_enabled": svc.settings.orders_enabled,
                "next_step": "Show this summary (and any warnings) to the human. Call execute_trade with this "
                             "preview_id only after they explicitly confirm this exact order, before expires_at.",
            }

        return await run("preview_trade", work)

    async def execute_trade(
        preview_id: args.PreviewId,
        confirmation: Annotated[ElicitationResult[ConfirmOrder], Resolve(confirmer.ask)],
        unexpected_arguments: args.Unexpected = None,
    ) -> CallToolResult:
        try:
            preview = args.gather(unexpected_arguments, p=lambda: _uuid_text("preview_id", preview_id))["p"]
        except TradeError as exc:
            return refused(exc)

        def work(svc: TradeExecutionService) -> dict[str, Any]:
            answer = confirmation.data if isinstance(confirmation, AcceptedElicitation) else None
            if isinstance(answer, NotAsked):
                if answer.error is not None:
                    raise answer.error
                if answer.reason == "unsupported" and svc.settings.execute_confirmation == "always":
                    raise refusal_without_confirmation()
            elif not isinstance(answer, ConfirmOrder) or not answer.confirm:
                return _declined(svc, preview)
            return _order_payload(svc.execute_order(preview))

        return await run("execute_trade", work)

    async def get_orders(
        account_id: args.OptionalAccountId = None,
        state: args.OrderState = "all",
        days: args.Days = 30,
        unexpected_arguments: args.Unexpected = None,
    ) -> CallToolResult:
        try:
            got = args.gather(
                unexpected_arguments,
                account_id=lambda: args.optional_text("account_id", account_id),
                state=lambda: args.choice("state", state, ORDER_STATES, "all"),
                days=lambda: args.whole_number("days", days, default=30, low=1, high=3650),
            )
        except TradeError as exc:
            return refused(exc)

        def work(svc: TradeExecutionService) -> dict[str, Any]:
            orders = [_order_payload(o) for o in svc.get_orders(got["account_id"], got["state"], got["days"])]
            return {"orders": orders, "count": len(orders), **got}

        return await run("get_orders", work)

    async def get_order_status(order_id: args.OrderId, unexpected_arguments: args.Unexpected = None) -> CallToolResult:
        try:
            order = args.gather(unexpected_arguments, o=lambda: _uuid_text("order_id", order_id))["o"]
        except TradeError as exc:
            return refused(exc)
        return await run("get_order_status", lambda svc: _order_payload(svc.get_order_status(order)))

    async def cancel_order(order_id: args.OrderId, unexpected_arguments: args.Unexpected = None) -> CallToolResult:
        try:
            order = args.gather(unexpected_arguments, o=lambda: _uuid_text("order_id", order_id))["o"]
        except TradeError as exc:
            return refused(exc)
        return await run("cancel_order", lambda svc: _order_payload(svc.cancel_order(order)))

    batch_confirmer = BatchConfirmer(provider)

    async def execute_trades(
        preview_ids: PreviewIds,
        confirmation: Annotated[ElicitationResult[ConfirmOrder], Resolve(batch_confirmer.ask)],
        unexpected_arguments: args.Unexpected = None,
    ) -> CallToolResult:
        try:
            ids = args.gather(unexpected_arguments, p=lambda: preview_id_list(preview_ids))["p"]
        except TradeError as exc:
            return refused(exc)

        def work(svc: TradeExecutionService) -> dict[str, Any]:
            answer = confirmation.data if isinstance(confirmation, AcceptedElicitation) else None
            if isinstance(answer, NotAsked):
                if answer.error is not None:
                    raise answer.error
                if answer.reason == "unsupported" and svc.settings.execute_confirmation == "always":
                    raise refusal_without_confirmation()
            elif not isinstance(answer, ConfirmOrder) or not answer.confirm:
                return {"legs": [_declined(svc, pid) for pid in ids], "status": "NOT_CONFIRMED", "placed": False,
                        "message": "The human declined the confirmation prompt: no order was placed."}
            return batch_payload(svc.execute_orders(ids))

        return await run("execute_trades", work)

    tools: list[tuple[Callable[..., Any], ToolAnnotations]] = [
        (list_tradeable_accounts, READ), (search_symbol, READ), (get_quote, READ),
        (get_account_balance, READ), (get_positions, READ), (preview_trade, PREVIEW),
        (execute_trade, PLACE), (get_orders, READ), (get_order_status, READ), (cancel_order, CANCEL),
        (execute_trades, PLACE),
    ]
    for fn, hints in tools:
        title, description = DESCRIPTIONS[fn.__name__]
        annotations = hints.model_copy(update={"title": title})
        server.add_tool(fn, title=title, description=description, annotations=annotations, structured_output=False)
    return provider


def _declined(svc: TradeExecutionService, preview_id: str) -> dict[str, Any]:
    """The human said no: nothing is placed, the refusal is audited, the preview stays usable until it expires."""
    svc.store.audit(
        new_event("EXECUTE_DECLINED", correlation_id=uuid.uuid4(), preview_id=uuid.UUID(preview_id),
                  message="the human declined the confirmation prompt")
    )
    return {
        "preview_id": preview_id, "placed": False, "status": "NOT_CONFIRMED",
        "message": "The human declined the confirmation prompt: no order was placed.",
    }
