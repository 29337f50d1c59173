"""Tool argument schemas and the checks that turn any bad argument into VALIDATION_ERROR.

The published JSON schemas carry the enums, ranges and descriptions an LLM needs. The
Python parameters are typed `Any` on purpose: the SDK's own validation would answer a
wrong type with free text, while this module answers it with the structured error
every other refusal uses. `ArgumentGuard` covers what a signature cannot: missing and
unknown argument names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderSide, OrderType, TimeInForce
from mcp_tools.results import validation_error

UNEXPECTED = "unexpected_arguments"
"""Hidden parameter through which ArgumentGuard reports argument names the tool does not take."""

ID_PATTERN = "^[0-9a-fA-F-]{32,36}$"


def _param(schema: dict[str, Any]) -> Any:
    return Annotated[Any, WithJsonSchema(schema)]


AccountId = _param({
    "type": "string", "minLength": 1, "maxLength": 64,
    "description": "Account id exactly as returned by list_tradeable_accounts "
                   "(e.g. 'DU1234567' for an IBKR paper account, or a SnapTrade account UUID).",
})
Ticker = _param({
    "type": "string", "minLength": 1, "maxLength": 64,
    "description": "Ticker symbol, e.g. 'AAPL'. Use search_symbol first when unsure of the exact symbol.",
})
Side = _param({
    "type": "string", "enum": [s.value for s in OrderSide],
    "description": "BUY to open or add to a position, SELL to reduce or close one.",
})
Quantity = _param({
    "type": "number", "exclusiveMinimum": 0,
    "description": "Number of shares, greater than zero. A decimal string such as '2.5' is accepted too "
                   "and keeps exact precision.",
})
OrderTypeArg = _param({
    "type": "string", "enum": [t.value for t in OrderType], "default": OrderType.MARKET.value,
    "description": "Market (default), Limit (needs limit_price), Stop (needs stop_price) or StopLimit "
                   "(needs both).",
})
LimitPrice = _param({
    "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}], "default": None,
    "description": "Limit price per share. Required for Limit and StopLimit orders; leave out otherwise.",
})
StopPrice = _param({
    "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}], "default": None,
    "description": "Stop (trigger) price per share. Required for Stop and StopLimit orders; leave out otherwise.",
})
TimeInForceArg = _param({
    "type": "string", "enum": [t.value for t in TimeInForce], "default": TimeInForce.DAY.value,
    "description": "Day (default): expires at the close. GTC: good till canceled. IOC: immediate or cancel. "
                   "FOK: fill or kill.",
})
PreviewId = _param({
    "type": "string", "pattern": ID_PATTERN,
    "description": "The preview_id returned by preview_trade, used only after the human explicitly confirmed "
                   "that exact preview. Each preview can be executed once.",
})
OrderId = _param({
    "type": "string", "pattern": ID_PATTERN,
    "description": "The order_id returned by execute_trade or get_orders.",
})
OptionalAccountId = _param({
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": 64}, {"type": "null"}], "default": None,
    "description": "Only orders of this account (an id from list_tradeable_accounts); may be left out only "
                   "when there is exactly one tradeable account (AMBIGUOUS_ACCOUNT otherwise).",
})
OrderState = _param({
    "type": "string", "enum": ["all", "open", "executed", "cancelled"], "default": "all",
    "description": "all (default); open: still working or not yet settled, whatever its age; executed: every "
                   "order with a fill (partly filled then cancelled included); cancelled: canceled or expired.",
})
Days = _param({
    "type": "integer", "minimum": 1, "maximum": 3650, "default": 30,
    "description": "How many days back to look (1 to 3650, default 30).",
})
Unexpected = Annotated[Any, SkipJsonSchema()]


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
    """Server middleware: normalizes `tools/call` arguments of this module's tools before the SDK sees them."""

    def __init__(self, tools: Mapping[str, ToolArguments]) -> None:
        self.tools = dict(tools)

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        params = ctx.params
        if ctx.method == "tools/call" and isinstance(params, Mapping):
            spec = self.tools.get(params.get("name"))  # type: ignore[arg-type]
            arguments = params.get("arguments")
            if spec is not None and (arguments is None or isinstance(arguments, Mapping)):
                fixed = spec.normalize(arguments or {})
                ctx = dataclasses.replace(ctx, params={**params, "arguments": fixed})
        return await call_next(ctx)


def gather(unexpected: Any, **checks: Callable[[], Any]) -> dict[str, Any]:
    """Run every check and report all problems at once, so the LLM can fix a call in one go."""
    problems: list[dict[str, str]] = []
    if unexpected:
        names = [str(n) for n in unexpected] if isinstance(unexpected, list) else [str(unexpected)]
        problems.extend({"field": name, "problem": f"unknown argument {name!r}"} for name in names)
    values: dict[str, Any] = {}
    for name, check in checks.items():
        try:
            values[name] = check()
        except TradeError as exc:
            problems.append({"field": name, "problem": exc.message})
    if problems:
        summary = "; ".join(p["problem"] for p in problems)
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid arguments: {summary}", {"problems": problems})
    return values


def text(name: str, value: Any, *, max_length: int = 64) -> str:
    if value is None:
        raise validation_error(f"{name} is required", field=name)
    if not isinstance(value, str) or not value.strip():
        raise validation_error(f"{name} must be a non-empty string", field=name)
    value = value.strip()
    if len(value) > max_length:
        raise validation_error(f"{name} is longer than {max_length} characters", field=name)
    return value


def optional_text(name: str, value: Any) -> str | None:
    return None if value is None else text(name, value)


def choice(name: str, value: Any, allowed: list[str], default: str | None) -> str:
    """Case-insensitive match against an enum; the canonical spelling is returned."""
    if value is None:
        if default is None:
            raise validation_error(f"{name} is required", field=name)
        return default
    if isinstance(value, str):
        for option in allowed:
            if option.lower() == value.strip().lower():
                return option
    raise validation_error(f"{name} must be one of {', '.join(allowed)}", field=name, allowed=allowed)


def number(name: str, value: Any, *, required: bool) -> Decimal | None:
    """A positive finite number (JSON number or numeric string), kept exact as Decimal."""
    if value is None:
        if required:
            raise validation_error(f"{name} is required", field=name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise validation_error(f"{name} must be a number", field=name)
    try:
        parsed = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise validation_error(f"{name} must be a number", field=name) from None
    if not parsed.is_finite() or parsed <= 0:
        raise validation_error(f"{name} must be a finite number greater than zero", field=name)
    return parsed


def whole_number(name: str, value: Any, *, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise validation_error(f"{name} must be a whole number from {low} to {high}", field=name)
    return value
