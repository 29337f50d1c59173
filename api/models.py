"""Request bodies and the few envelopes the HTTP layer adds; every order, preview and account shape
is the service's own pydantic model (see `service_result`), so OpenAPI cannot drift from the service.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PlainValidator, create_model

from brokers.models import OrderRequest
from brokers.records import BrokerAccount
from services.reports import BrokerErrorEntry
from services.trade_execution import TradeExecutionService


def service_result(method: str) -> Any:
    """The return type the service declares for `method`: the API's response model for that route."""
    return get_type_hints(getattr(TradeExecutionService, method))["return"]


def _preview_request() -> type[BaseModel]:
    """OrderRequest's fields (so the two cannot drift) with `quantity` optional and exactly one of it and
    `notional` required, as `parse_order_or_notional` rules. One flat body rather than a union: OrderRequest
    itself carries `notional` (a resolved preview's amount), so a union with it would advertise both at once."""
    fields: dict[str, Any] = {name: (info.annotation, info) for name, info in OrderRequest.model_fields.items()}
    fields["quantity"] = (Decimal | None, Field(default=None, description=(
        "How many units to trade (shares; contracts for futures and options), greater than zero. Give this or "
        "notional.")))
    fields["notional"] = (Decimal | None, Field(default=None, description=(
        "Instead of quantity: a cash amount in the account's currency ('buy $1,000 of MSFT' is 1000). Only for "
        "Market Day stock orders at a broker that takes cash amounts (SnapTrade); the preview shows the amount "
        "and the estimated quantity. Elsewhere the error says how many whole shares the amount buys.")))
    exactly_one: list[JsonValue] = [{"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                                    for name in ("quantity", "notional")]
    return create_model(
        "PreviewRequest", __config__=ConfigDict(extra="forbid", json_schema_extra={"oneOf": exactly_one}),
        __doc__="An order's terms with exactly one of quantity (units) and notional (a cash amount).", **fields,
    )


PreviewRequest = _preview_request()
"""The body of POST /v1/previews as OpenAPI shows it; the route parses it with the service's own parse."""


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object of order terms")
    return value


PreviewBody = Annotated[dict[str, Any], PlainValidator(_json_object, json_schema_input_type=PreviewRequest)]
"""The terms as sent, for `parse_order_or_notional` (one parse, the MCP tool's): every refusal in its words."""


class ExecuteRequest(BaseModel):
    """Execute takes the id of a preview the human confirmed, and nothing else: never raw order terms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preview_id: uuid.UUID = Field(description="The preview_id a preview returned, after the human confirmed it.")


class Health(BaseModel):
    status: str = Field(description="'ok' while the process serves requests.")
    service: str = Field(description="'ready' once the database and brokers are wired, else 'starting'.")
    version: str


class AccountsOverview(BaseModel):
    """The tradeable accounts plus the switches that decide whether an execute can place anything."""

    accounts: list[BrokerAccount]
    broker_errors: list[BrokerErrorEntry] = Field(
        default_factory=list, description="Brokers that could not be reached: their accounts are missing, not gone."
    )
    count: int
    trading_mode: str
    orders_enabled: bool
    trading_blocked: str | None = Field(description="Why orders cannot be placed right now, or null.")
