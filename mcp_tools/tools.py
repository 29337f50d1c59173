"""The ten trade tools of DESIGN.md; `register_tools(server, service)` mounts them (and every toolset) anywhere.

Each tool is its signature (the arguments, parsed once by `mcp_tools.registry`), its
docstring (what the model reads: it carries the preview, show, confirm, execute discipline)
and one service call. Other modules add tools with their own `ToolRegistry`, listed in TOOLSETS.
"""

# No `from __future__ import annotations` here: the registry reads these annotations as live objects.

from datetime import UTC, datetime
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from mcp_tools import arguments as args
from mcp_tools import outputs as out
from mcp_tools.batch import BATCH_TOOLS
from mcp_tools.confirmation import OrderConfirmer, settle_confirmation
from mcp_tools.descriptions import SERVER_INSTRUCTIONS
from mcp_tools.market_tools import MARKET_TOOLS
from mcp_tools.modification_tools import MODIFICATION_TOOLS
from mcp_tools.order_set_tools import ORDER_SET_TOOLS
from mcp_tools.prompts import register_prompts
from mcp_tools.registry import ToolRegistry, ToolRuntime
from mcp_tools.results import Redactor, order_payload
from mcp_tools.runtime import ServiceFactory, ServiceProvider, secret_values
from services.trade_execution import TradeExecutionService
from settings import Settings

__all__ = ["SERVER_INSTRUCTIONS", "TOOLSETS", "TRADE_TOOLS", "register_tools"]

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
PREVIEW = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
PLACE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)

TRADE_TOOLS = ToolRegistry()
tool = TRADE_TOOLS.tool



def _answered_at() -> str:
    """When the broker's answer was true: these reads are never cached, so the moment it came back."""
    return datetime.now(UTC).isoformat()

@tool("List tradeable accounts", READ, output=out.AccountsResult)
def list_tradeable_accounts(service: TradeExecutionService, user_email: args.UserEmail = None) -> dict[str, Any]:
    """List the brokerage accounts this server can trade in: account_id, provider (ibkr or snaptrade), name,
    currency and whether it is a paper account. Start here: every other tool needs an account_id from this
    list; never invent one. Also reports trading_mode (paper or live), orders_enabled (false means
    execute_trade only records SIMULATED orders) and trading_blocked (why no order can be placed right now,
    or null). A broker that could not be reached is listed in broker_errors (its accounts are missing, not gone);
    the other brokers' accounts are still listed. Read-only."""
    report = service.tradeable_accounts()
    accounts = [a.model_dump(mode="json") for a in report.accounts]
    settings = service.settings
    return {"accounts": accounts, "broker_errors": [e.as_json() for e in report.broker_errors],
            "count": len(accounts), "trading_mode": settings.trading_mode.value,
            "orders_enabled": settings.orders_enabled, "trading_blocked": settings.trading_block_reason()}


@tool("Search a symbol", READ, output=out.SymbolsResult)
def search_symbol(
    service: TradeExecutionService, account_id: args.AccountId, ticker: args.Ticker, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Find the instruments matching a ticker at the broker of one account (ticker, broker_symbol_id,
    description, exchange, currency). Use it when the ticker is uncertain. Read-only."""
    matches = [m.model_dump(mode="json") for m in service.search_symbol(account_id, ticker)]
    return {"account_id": account_id, "ticker": ticker, "matches": matches, "count": len(matches)}


@tool("Get a quote", READ, output=out.QuoteResult)
def get_quote(
    service: TradeExecutionService, account_id: args.AccountId, target: args.QuoteTerms,
    user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Current bid, ask, last and close for a ticker as the account's broker reports it, plus the
    reference_price used by the risk checks. 'delayed' is true for delayed data. Prices are decimal strings.
    A non-US listing or a derivative takes preview_trade's instrument arguments (sec_type, exchange, currency,
    expiry, strike, right), e.g. ticker 'VOD' with exchange 'LSE' and currency 'GBP'. Read-only."""
    quote = service.get_quote(account_id, target)
    price = quote.reference_price
    return {"account_id": account_id, **quote.model_dump(mode="json"),
            "reference_price": None if price is None else str(price), "as_of": _answered_at()}


@tool("Get account balance", READ, output=out.BalanceResult)
def get_account_balance(
    service: TradeExecutionService, account_id: args.AccountId, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Cash, buying power, available funds and net liquidation value of one account, as decimal strings.
    Read-only."""
    balance = service.get_account_balance(account_id).model_dump(mode="json")
    why_null = {k: "the broker does not report this figure for this account" for k, v in balance.items() if v is None}
    return {**balance, "as_of": _answered_at(), "null_fields": why_null}


@tool("Get positions", READ, output=out.PositionsResult)
def get_positions(
    service: TradeExecutionService, account_id: args.AccountId, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Holdings of one account: ticker, quantity, average cost, market price and value. Read-only."""
    positions = [p.model_dump(mode="json") for p in service.get_positions(account_id)]
    return {"account_id": account_id, "positions": positions, "count": len(positions), "as_of": _answered_at()}


@tool("Preview a trade (step 1 of 2)", PREVIEW, output=out.PreviewResult)
def preview_trade(
    service: TradeExecutionService, order: args.PreviewTerms, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Step 1 of 2 for placing an order. Validates the order, applies the risk limits and asks the broker for an
    estimate; NOTHING is placed. Returns preview_id, a one-line summary, estimated price, commission and total,
    warnings and expires_at. You MUST then show the summary and any warnings to the human and obtain an explicit
    yes for this exact order before calling execute_trade. Previews expire after a few minutes. A refusal
    (RISK_LIMIT, INSUFFICIENT_FUNDS, SYMBOL_NOT_FOUND, VALIDATION_ERROR, ...) is a tool error: explain it to the
    human instead of working around it. With take_profit_price and/or stop_loss_price the order is the entry of a
    bracket: the preview lists every leg in legs (role entry, take_profit, stop_loss) and the summary names them
    all; the human confirms the whole set at once. To change a working order's quantity or prices use
    preview_modification (or cancel it and preview a new one where that answers UNSUPPORTED_ORDER). A future or
    option (IBKR) is chosen only when the human asked for one (see ticker and sec_type); its quantity counts
    contracts and its result carries `instrument` (type, expiry, strike/right, multiplier, exchange, currency)
    and `margin`: tell the human all of it."""
    view = service.preview_request(order, user_email=user_email)
    return {
        **view.as_json(), "orders_enabled": service.settings.orders_enabled,
        "next_step": "Show this summary (and any warnings) to the human. Call execute_trade with this preview_id "
                     "only after they explicitly confirm this exact order, before expires_at.",
    }


@tool("Execute a confirmed preview (step 2 of 2)", PLACE, confirm=OrderConfirmer, output=out.ExecuteResult)
def execute_trade(
    service: TradeExecutionService, preview_id: args.PreviewId, confirmation: Any, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Step 2 of 2: place the order described by one preview, exactly once. Call it ONLY after the human has
    explicitly confirmed that preview's summary in this conversation - never on your own initiative and never as
    a retry. A preview executes at most once: a second call returns ALREADY_EXECUTED. An expired preview places
    nothing and comes back with error_code PREVIEW_EXPIRED and new_preview: a fresh preview of the same order at
    current prices; show its figures to the human and execute new_preview.preview_id only if they confirm. The
    server may ask the human to confirm through the client; if they decline or close the prompt, nothing is
    placed (CONFIRMATION_DECLINED). If the result says
    simulated=true (ORDERS_ENABLED is off), the order was only recorded and nothing was sent to the broker: say
    so plainly. If the status is UNKNOWN the order may exist: do not execute again, check get_order_status.
    A bracket preview places all its legs at once: the result is the entry's order with order_ids and order_roles
    listing every leg (check them with get_orders_status; cancel_order on the entry cancels the whole set).
    A placed order is not amended by a new execute and a filled one cannot be changed; a working one's quantity or
    prices can (preview_modification, then execute_modification), or cancel it (which can race a fill) and preview
    a new one."""
    answer = settle_confirmation(service, preview_id, confirmation)  # raises when nothing may be placed
    return answer if answer is not None else order_payload(service.execute_order(preview_id, user_email=user_email))


@tool("List orders", READ, output=out.OrdersResult)
def get_orders(
    service: TradeExecutionService, account_id: args.OptionalAccountId = None, state: args.OrderState = "all",
    days: args.Days = 30, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Orders of one account, newest first: those placed through this service (source "local") merged with
    orders the broker reports that were placed elsewhere (source "brokerage", id and preview_id null). Filtered
    by state (all, open, executed, cancelled) and age in days (open ignores days). account_id may be left out
    only when there is one tradeable account. Read-only."""
    orders = [order_payload(o) for o in service.get_orders(account_id, state, days, user_email=user_email)]
    return {"orders": orders, "count": len(orders), "account_id": account_id, "state": state, "days": days}


@tool("Get order status", READ, output=out.OrderResult)
def get_order_status(
    service: TradeExecutionService, order_id: args.OrderId, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Current status of one order (PENDING, ACCEPTED, PARTIAL, EXECUTED, CANCELED, REJECTED, FAILED, EXPIRED,
    UNKNOWN, SIMULATED) with filled quantity and average price, refreshed from the broker when it may have
    changed. 'stale': true means the broker could not be asked and the stored status is shown. Read-only."""
    return order_payload(service.get_order_status(order_id, user_email=user_email))


@tool("Cancel an order", CANCEL, output=out.OrderResult)
def cancel_order(
    service: TradeExecutionService, order_id: args.OrderId, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Ask the broker to cancel a working order (PENDING, ACCEPTED or PARTIAL). Confirm with the human first.
    Filled or otherwise final orders cannot be canceled (ORDER_NOT_CANCELABLE). The result shows the status the
    broker reported; a cancel can race a fill. Cancelling a bracket's entry (its order_id) cancels the whole set,
    its take-profit and stop-loss included (also once the entry has filled); the result lists every leg. To
    change a working order's quantity or prices instead, use preview_modification, or cancel it and preview a new
    one."""
    return order_payload(service.cancel_order(order_id, user_email=user_email))


TOOLSETS: list[ToolRegistry] = [TRADE_TOOLS, ORDER_SET_TOOLS, MARKET_TOOLS, BATCH_TOOLS, MODIFICATION_TOOLS]
"""Every toolset register_tools mounts; a module adding tools appends its own registry here."""


def register_tools(
    server: MCPServer[Any],
    service: TradeExecutionService | ServiceFactory | ServiceProvider,
    *,
    settings: Settings | None = None,
) -> ServiceProvider:
    """Add every toolset and the trading-discipline prompt to `server`, backed by `service`.

    `service` is an instance, or a factory called on first use.

    Returns the provider so the caller can warm it up or close it.
    """
    provider = ServiceProvider.of(service)
    known = settings or (provider.built.settings if provider.built is not None else None)
    redact = Redactor(secret_values(known) if known is not None else ())
    runtime = ToolRuntime(provider, redact)
    for toolset in TOOLSETS:
        toolset.register(server, runtime)
    register_prompts(server)
    return provider

