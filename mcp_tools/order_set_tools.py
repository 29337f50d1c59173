"""Tools over several orders at once (issue 16): `get_orders_status(order_ids)` and `cancel_orders`.

`cancel_orders` takes `account_id` (every open order of the account, issue 15) or `order_ids`
(exactly those orders, e.g. the legs of a bracket), exactly one of the two. Each order is
handled on its own and audited; the result lists every order with its outcome.
"""

# No `from __future__ import annotations`: the registry reads these annotations as live objects.

import uuid
from typing import Annotated, Any

from mcp_types import ToolAnnotations

from brokers.errors import ErrorCode, TradeError
from mcp_tools import arguments as args
from mcp_tools import outputs as out
from mcp_tools.arguments import UUID_TEXT, canonical_id_list
from mcp_tools.registry import Arg, ToolRegistry
from mcp_tools.results import order_payload, validation_error
from services.order_sets import MAX_ORDER_IDS, OrdersResult
from services.trade_execution import TradeExecutionService

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
MAX_DAYS = 3650
"""cancel_orders(account_id) looks this far back: an open GTC order is cancelled however old it is."""
ORDER_SET_TOOLS = ToolRegistry()
tool = ORDER_SET_TOOLS.tool


def order_id_list(name: str, value: Any) -> list[uuid.UUID]:
    """Canonical order ids, in order, each once."""
    return canonical_id_list(name, value, MAX_ORDER_IDS, "order ids")


ORDER_IDS_SCHEMA = {
    "type": "array", "minItems": 1, "maxItems": MAX_ORDER_IDS,
    "items": {"type": "string", "pattern": f"^{UUID_TEXT}$"},
    "description": "Order ids exactly as execute_trade (order_id, order_ids) or get_orders returned them; "
                   f"1 to {MAX_ORDER_IDS}.",
}
OrderIds = Annotated[list[uuid.UUID], Arg(ORDER_IDS_SCHEMA, order_id_list)]
OptionalOrderIds = Annotated[list[uuid.UUID] | None, Arg(
    {"anyOf": [ORDER_IDS_SCHEMA, {"type": "null"}], "default": None,
     "description": "Cancel exactly these orders (e.g. the order_ids of a bracket). Give this or account_id."},
    order_id_list)]
CancelAccountId = Annotated[str | None, Arg({
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": 64}, {"type": "null"}], "default": None,
    "description": "Cancel every working order placed through this service in this account (an id from "
                   "list_tradeable_accounts). Give this or order_ids.",
}, args.account_id)]


def _outcomes(result: OrdersResult, flag: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = []
    for outcome in result.orders:
        if outcome.order is not None:
            listed.append({**order_payload(outcome.order), flag: True})
        else:
            listed.append({"order_id": outcome.order_id, flag: False, "error": outcome.error})
    return listed


@tool("Get the status of several orders", READ, output=out.OrdersStatusResult)
def get_orders_status(
    service: TradeExecutionService, order_ids: OrderIds, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Current status of several orders at once (for example the entry, take-profit and stop-loss of a bracket,
    by the order_ids execute_trade returned), each refreshed from the broker when it may have changed. An id that
    is unknown is listed with found false and its error; the others still answer. Read-only."""
    result = service.get_orders_status(order_ids, user_email=user_email)
    listed = _outcomes(result, "found")
    return {"order_ids": [str(i) for i in order_ids], "orders": listed, "count": len(listed),
            "found": result.succeeded, "not_found": result.failed}


@tool("Cancel several orders", CANCEL, output=out.CancelOrdersResult)
def cancel_orders(
    service: TradeExecutionService, account_id: CancelAccountId = None, order_ids: OptionalOrderIds = None,
    user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Cancel several working orders: either every order placed through this service in one account (account_id,
    "cancel all my open orders") or exactly the orders listed (order_ids, e.g. the legs of a bracket; cancelling a
    bracket's entry cancels its take-profit and stop-loss too). Give exactly one of the two. First list the orders
    (get_orders or get_orders_status), show them to the human and get an explicit yes. Each order is canceled on
    its own and audited: the result lists every order with canceled true or false (and the error), so one that
    already filled or cannot be canceled does not stop the others. A cancel can race a fill."""
    if (account_id is None) == (order_ids is None):
        raise validation_error("give exactly one of account_id and order_ids", field="order_ids")
    if order_ids is not None:
        listed = _outcomes(service.cancel_orders(order_ids, user_email=user_email), "canceled")
    else:
        listed = _cancel_account(service, str(account_id), user_email)
    canceled = sum(1 for o in listed if o["canceled"])
    return {"account_id": account_id, "order_ids": [str(i) for i in order_ids or []], "orders": listed,
            "count": len(listed), "canceled": canceled, "not_canceled": len(listed) - canceled}


def _cancel_account(service: TradeExecutionService, account_id: str, user: str | None) -> list[dict[str, Any]]:
    if account_id not in {a.account_id for a in service.list_tradeable_accounts()}:
        raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, f"account {account_id} is not a tradeable account",
                         {"account_id": account_id})
    outcomes: list[dict[str, Any]] = []
    for order in service.get_orders(account_id, "open", MAX_DAYS, user_email=user):
        if order.source != "local" or order.order_id is None:
            continue  # placed outside this module: listed by get_orders, not cancelled in bulk
        try:
            done = service.cancel_order(uuid.UUID(order.order_id), user_email=user)
            outcomes.append({**order_payload(done), "canceled": True})
        except TradeError as exc:
            outcomes.append({**order_payload(order), "canceled": False, "error": exc.to_dict()})
    return outcomes
