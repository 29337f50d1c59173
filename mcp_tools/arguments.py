"""The tools' arguments: the JSON schema each one publishes and the one parse to its canonical form.

The published schemas carry the enums, ranges and descriptions a model needs. The SDK passes
values through untyped on purpose: its own validation would answer a wrong type with free
text, while these parsers answer with the structured VALIDATION_ERROR every other refusal
uses. Ids are parsed strictly (a padded or otherwise non-canonical id is refused, never
repaired), so what a human confirms is exactly what executes. `ArgumentGuard` covers what a
signature cannot: missing and unknown argument names.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from brokers.errors import TradeError
from brokers.models import (
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
    canonical_account_id,
    canonical_ticker,
    parse_order_request,
)
from brokers.quote_target import QuoteTarget, parse_quote_target
from brokers.user_context import MAX_EMAIL_LENGTH, parse_user_email
from mcp_tools.instrument_arguments import INSTRUMENT_TERMS, ORDER_TICKER_SCHEMA
from mcp_tools.registry import REQUIRED, UNEXPECTED, Arg, ArgGroup
from mcp_tools.results import validation_error
from services.notional import NotionalOrder, parse_order_or_notional

UUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
DECIMAL_TEXT = r"^(?=.*[0-9])[0-9]*\.?[0-9]*$"
_UUID = re.compile(UUID_TEXT)


def canonical_id(name: str, value: Any) -> uuid.UUID:
    """The id exactly as a tool returned it (36 characters, no padding); anything else is refused."""
    if not isinstance(value, str) or _UUID.fullmatch(value) is None:
        raise validation_error(
            f"{name} is malformed: give the 36-character id exactly as a tool returned it "
            "(like 1b4e28ba-2fa1-11d2-883f-0016d3cca427), with no spaces or other characters", field=name)
    return uuid.UUID(value)


def canonical_id_list(name: str, value: Any, most: int, what: str) -> list[uuid.UUID]:
    """A list of 1 to `most` ids (`what`: "preview ids", "order ids"), canonical, in order, each once."""
    if not isinstance(value, list) or not 0 < len(value) <= most:
        raise validation_error(f"{name} must be a list of 1 to {most} {what}", field=name)
    ids: list[uuid.UUID] = []
    for position, item in enumerate(value):
        parsed = canonical_id(f"{name}[{position}]", item)
        if parsed not in ids:
            ids.append(parsed)
    return ids


def account_id(name: str, value: Any) -> str:
    return canonical_account_id(value, name)


def ticker(name: str, value: Any) -> str:
    return canonical_ticker(value, name)


def user_email(name: str, value: Any) -> str:
    try:
        parsed = parse_user_email(value)
    except TradeError as exc:
        raise validation_error(f"{name} must be the platform user's email address, e.g. alice@example.com",
                               field=name) from exc
    if parsed is None:
        raise validation_error(f"{name} must be an email address", field=name)
    return parsed


def choice(allowed: list[str]) -> Any:
    """Case-insensitive match against an enum; the canonical spelling is returned."""

    def parse(name: str, value: Any) -> str:
        if isinstance(value, str):
            for option in allowed:
                if option.lower() == value.strip().lower():
                    return option
        raise validation_error(f"{name} must be one of {', '.join(allowed)}", field=name, allowed=allowed)

    return parse


def whole_number(low: int, high: int) -> Any:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise validation_error(f"{name} must be a whole number from {low} to {high}", field=name)
        return value

    return parse


def _decimal_schema(description: str, *, optional: bool) -> dict[str, Any]:
    kinds: list[dict[str, Any]] = [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": DECIMAL_TEXT, "minLength": 1},
    ]
    if optional:
        kinds.append({"type": "null"})
    schema: dict[str, Any] = {"anyOf": kinds, "description": description}
    return schema | {"default": None} if optional else schema


ACCOUNT_ID_SCHEMA = {
    "type": "string", "minLength": 1, "maxLength": 64,
    "description": "Account id exactly as returned by list_tradeable_accounts (e.g. 'DU1234567' for an IBKR "
                   "paper account, or a SnapTrade account UUID). Never invent one.",
}
TICKER_SCHEMA = {
    "type": "string", "minLength": 1, "maxLength": 64,
    "description": "Ticker symbol, e.g. 'AAPL' (a bare ticker is the stock or ETF). IBKR also reads '/ES' (a "
                   "future's front month, quoted as IB's continuous future), 'ES 202612' (a contract month), an "
                   "option's OCC symbol ('SPY   261218C00600000') and indexes ('SPX'). Use search_symbol first "
                   "when unsure of the exact symbol.",
}

AccountId = Annotated[str, Arg(ACCOUNT_ID_SCHEMA, account_id)]
Ticker = Annotated[str, Arg(TICKER_SCHEMA, ticker)]
PreviewId = Annotated[uuid.UUID, Arg({
    "type": "string", "pattern": f"^{UUID_TEXT}$",
    "description": "The preview_id returned by preview_trade, exactly as returned, used only after the human "
                   "explicitly confirmed that exact preview. Each preview can be executed once.",
}, canonical_id)]
OrderId = Annotated[uuid.UUID, Arg({
    "type": "string", "pattern": f"^{UUID_TEXT}$",
    "description": "The order_id returned by execute_trade or get_orders, exactly as returned.",
}, canonical_id)]
OptionalAccountId = Annotated[str | None, Arg({
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": 64}, {"type": "null"}], "default": None,
    "description": "Only orders of this account (an id from list_tradeable_accounts); may be left out only "
                   "when there is exactly one tradeable account (AMBIGUOUS_ACCOUNT otherwise).",
}, account_id)]
OrderState = Annotated[str, Arg({
    "type": "string", "enum": ["all", "open", "executed", "cancelled"], "default": "all",
    "description": "all (default); open: still working or not yet settled, whatever its age; executed: every "
                   "order with a fill (partly filled then cancelled included); cancelled: canceled or expired.",
}, choice(["all", "open", "executed", "cancelled"]))]
UserEmail = Annotated[str | None, Arg({
    "anyOf": [{"type": "string", "minLength": 3, "maxLength": MAX_EMAIL_LENGTH}, {"type": "null"}], "default": None,
    "description": "Optional: the platform user (email) this call acts for. The broker is asked with that user's "
                   "credentials; a preview is recorded as theirs, and another user's preview or order is answered "
                   "as not found. Leave it out to act as the server's configured user.",
}, user_email)]
Days = Annotated[int, Arg({
    "type": "integer", "minimum": 1, "maximum": 3650, "default": 30,
    "description": "How many days back to look (1 to 3650, default 30).",
}, whole_number(1, 3650))]

ORDER_TERMS: dict[str, tuple[Arg, Any]] = {
    "account_id": (Arg(ACCOUNT_ID_SCHEMA), REQUIRED),
    "ticker": (Arg(ORDER_TICKER_SCHEMA), REQUIRED),
    "side": (Arg({
        "type": "string", "enum": [s.value for s in OrderSide],
        "description": "BUY to open or add to a position, SELL to reduce or close one.",
    }), REQUIRED),
    "quantity": (Arg(_decimal_schema(
        "How many units to trade, greater than zero: shares for stocks and ETFs, contracts for futures and "
        "options (1 ES contract is 50 x the index). A JSON number or a decimal "
        "string such as '2.5' (exact; at most 8 decimal places). Fractions only where the account allows them.",
        optional=False)), REQUIRED),
    "order_type": (Arg({
        "type": "string", "enum": [t.value for t in OrderType], "default": OrderType.MARKET.value,
        "description": "Market (default), Limit (needs limit_price), Stop (needs stop_price), StopLimit "
                       "(needs both), TrailingStop (needs trailing_amount or trailing_percent), TrailingStopLimit "
                       "(also needs limit_offset), MarketOnClose or MarketOnOpen (Day only; IBKR only).",
    }), OrderType.MARKET.value),
    "limit_price": (Arg(_decimal_schema(
        "Limit price per unit (number or decimal string). Required for Limit and StopLimit orders; leave out "
        "otherwise.", optional=True)), None),
    "stop_price": (Arg(_decimal_schema(
        "Stop (trigger) price per unit (number or decimal string). Required for Stop and StopLimit orders; "
        "leave out otherwise.", optional=True)), None),
    "time_in_force": (Arg({
        "type": "string", "enum": [t.value for t in TimeInForce], "default": TimeInForce.DAY.value,
        "description": "Day (default): expires at the close. GTC: good till canceled. IOC: immediate or cancel. "
                       "FOK: fill or kill.",
    }), TimeInForce.DAY.value),
    "trailing_amount": (Arg(_decimal_schema(
        "TrailingStop / TrailingStopLimit only: how far (in price units) the stop trails the market price. "
        "Give this or trailing_percent.", optional=True)), None),
    "trailing_percent": (Arg(_decimal_schema(
        "TrailingStop / TrailingStopLimit only: the trailing distance as a percent of the price (between 0 and "
        "100). Give this or trailing_amount.", optional=True)), None),
    "trail_stop_price": (Arg(_decimal_schema(
        "TrailingStop / TrailingStopLimit only, optional: the initial stop price.", optional=True)), None),
    "limit_offset": (Arg(_decimal_schema(
        "TrailingStopLimit only (required there): the limit price is the stop price minus this offset for a "
        "SELL, plus it for a BUY.", optional=True)), None),
    "oca_group": (Arg({
        "anyOf": [{"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9._\\-]*$"},
                  {"type": "null"}], "default": None,
        "description": "Optional one-cancels-all group name: when any order of the group fills, the broker "
                       "cancels the group's other working orders. Use the same name for each order of the group.",
    }), None),
    "take_profit_price": (Arg(_decimal_schema(
        "Optional: makes this order the entry of a bracket with a take-profit Limit exit at this price (opposite "
        "side, same quantity). For a BUY it must be above the entry price (limit_price, stop_price, or for a "
        "Market entry the current price); for a SELL, below. Entry types: Market, Limit, Stop, StopLimit.",
        optional=True)), None),
    "stop_loss_price": (Arg(_decimal_schema(
        "Optional: makes this order the entry of a bracket with a stop-loss Stop exit at this price (opposite "
        "side, same quantity). For a BUY it must be below the entry price; for a SELL, above. With "
        "take_profit_price too, the two exits are one-cancels-the-other and work only once the entry fills.",
        optional=True)), None),
    "outside_rth": (Arg({
        "type": "boolean", "default": False,
        "description": "true: the order may also trigger or fill outside regular trading hours, where the "
                       "broker allows it. Default false.",
    }), False),
    **INSTRUMENT_TERMS,
}
OrderTerms = Annotated[OrderRequest, ArgGroup(ORDER_TERMS, parse_order_request)]
PREVIEW_TERMS: dict[str, tuple[Arg, Any]] = {
    **ORDER_TERMS,
    "quantity": (Arg(_decimal_schema(
        "How many units to trade, greater than zero: shares for stocks and ETFs, contracts for futures and "
        "options (1 ES contract is 50 x the index). A JSON number or a decimal string such as '2.5' (exact; at "
        "most 8 decimal places). Fractions only where the account allows them. Give this or notional.",
        optional=True)), None),
    "notional": (Arg(_decimal_schema(
        "Instead of quantity: a cash amount in the account's currency ('buy $1,000 of MSFT' is notional 1000). "
        "Only for Market Day stock orders at a broker that takes cash amounts (SnapTrade): the preview shows the "
        "amount and the estimated quantity. Elsewhere the error says how many whole shares the amount buys at the "
        "ask: preview that quantity instead.", optional=True)), None),
}
PreviewTerms = Annotated[OrderRequest | NotionalOrder, ArgGroup(PREVIEW_TERMS, parse_order_or_notional)]
QuoteTerms = Annotated[QuoteTarget, ArgGroup({"ticker": (Arg(TICKER_SCHEMA), REQUIRED), **INSTRUMENT_TERMS},
                                              parse_quote_target)]
"""get_quote's ticker with preview_trade's instrument arguments: the same names, parsed by the same rules."""


@dataclass(frozen=True)
class ToolArguments:
    required: frozenset[str]
    optional: frozenset[str]

    def normalize(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Missing required names become None (which the tool refuses); unknown names are reported."""
        known = self.required | self.optional
        fixed = {k: v for k, v in arguments.items() if k in known}
        for name in self.required:
            fixed.setdefault(name, None)
        unknown = sorted(str(k)[:64] for k in arguments if k not in known)
        if unknown:
            fixed[UNEXPECTED] = unknown[:20]
        return fixed


class ArgumentGuard:
    """Server middleware for this module's tools: normalizes `tools/call` arguments before the SDK sees them,
    and publishes `additionalProperties: false` in `tools/list`, since unknown names are refused."""

    def __init__(self, tools: Mapping[str, ToolArguments]) -> None:
        self.tools = dict(tools)

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.method == "tools/list":
            return self._closed_schemas(await call_next(ctx))
        params = ctx.params
        if ctx.method == "tools/call" and isinstance(params, Mapping):
            spec = self.tools.get(params.get("name"))  # type: ignore[arg-type]
            arguments = params.get("arguments")
            if spec is not None and (arguments is None or isinstance(arguments, Mapping)):
                fixed = spec.normalize(arguments or {})
                ctx = dataclasses.replace(ctx, params={**params, "arguments": fixed})
        return await call_next(ctx)

    def _closed_schemas(self, result: Any) -> Any:
        tools = result.get("tools") if isinstance(result, dict) else None
        for tool in tools if isinstance(tools, list) else []:
            schema = tool.get("inputSchema") if isinstance(tool, dict) else None
            if isinstance(schema, dict) and tool.get("name") in self.tools:
                schema["additionalProperties"] = False
        return result
