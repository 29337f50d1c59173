"""The order form shared by impact and force placement, validated into Decimal values.

Answers what SnapTrade answers for a malformed form: a 400 with the API's error code.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from .errors import CODE_NOT_FOUND, bad_request
from .models import JSON, ORDER_TYPES, TIME_IN_FORCE
from .state import SimState

OPTION_ACTIONS = ("BUY_TO_OPEN", "BUY_TO_CLOSE", "SELL_TO_OPEN", "SELL_TO_CLOSE")
UNIT_STEP = Decimal("0.000001")


def _number(body: JSON, key: str) -> Decimal | None:
    """A positive number from the request body (parsed with Decimal floats), or None."""
    value: Any = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise bad_request(f"{key} must be a number")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise bad_request(f"{key} must be a number") from None
    if not number.is_finite() or number <= 0:
        raise bad_request(f"{key} must be greater than zero")
    return number


def order_form(state: SimState, user_id: str, body: JSON, force: bool) -> JSON:
    """Validate an order form (impact or force place) into Decimal values."""
    acct = state.accounts.get(str(body.get("account_id") or ""))
    if acct is None or acct.user_id != user_id:
        raise bad_request(f"Account {body.get('account_id')} not found", CODE_NOT_FOUND)
    action = body.get("action")
    if force and action in OPTION_ACTIONS:
        raise bad_request(f"Option action {action} is not supported by this account")
    if action not in ("BUY", "SELL"):
        raise bad_request(f"Invalid action {action!r}: expected BUY or SELL")
    sym_id = body.get("universal_symbol_id")
    if sym_id is None and force and body.get("symbol"):
        sym_id = state.tickers.get(str(body["symbol"]).upper())
        if sym_id is None:
            raise bad_request(f"Symbol {body['symbol']} not found", CODE_NOT_FOUND)
    if sym_id is None:
        raise bad_request("universal_symbol_id is required")
    if sym_id not in state.symbols:
        raise bad_request(f"Symbol {sym_id} not found", CODE_NOT_FOUND)
    order_type = body.get("order_type")
    if order_type not in ORDER_TYPES:
        raise bad_request(f"Invalid order_type {order_type!r}")
    tif = body.get("time_in_force")
    if tif not in TIME_IN_FORCE and not (force and tif == "GTD"):
        raise bad_request(f"Invalid time_in_force {tif!r}")
    if tif == "GTD" and not body.get("expiry_date"):
        raise bad_request("expiry_date is required for GTD orders")
    units, notional = _number(body, "units"), _number(body, "notional_value")
    if (units is None) == (notional is None):
        raise bad_request("Exactly one of units or notional_value is required")
    if notional is not None and order_type != "Market":
        raise bad_request("notional_value is only supported for Market orders")
    price, stop = _number(body, "price"), _number(body, "stop")
    if order_type in ("Limit", "StopLimit") and price is None:
        raise bad_request(f"price is required for {order_type} orders")
    if order_type in ("Stop", "StopLimit") and stop is None:
        raise bad_request(f"stop is required for {order_type} orders")
    if notional is not None:
        units = (notional / state.symbols[sym_id].price).quantize(UNIT_STEP, rounding=ROUND_DOWN)
        if units <= 0:
            raise bad_request("notional_value is too small to buy any units")
    return {
        "account_id": acct.id,
        "symbol_id": sym_id,
        "action": action,
        "order_type": order_type,
        "time_in_force": tif,
        "units": units,
        "price": price if order_type in ("Limit", "StopLimit") else None,
        "stop": stop if order_type in ("Stop", "StopLimit") else None,
        "client_order_id": body.get("client_order_id"),
        "expiry_date": body.get("expiry_date"),
    }
