"""Request bodies and the few envelopes the HTTP layer adds; every order, preview and account shape
is the service's own pydantic model (see `service_result`), so OpenAPI cannot drift from the service.
"""

from __future__ import annotations

import uuid
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field

from brokers.records import BrokerAccount
from services.reports import BrokerErrorEntry
from services.trade_execution import TradeExecutionService


def service_result(method: str) -> Any:
    """The return type the service declares for `method`: the API's response model for that route."""
    return get_type_hints(getattr(TradeExecutionService, method))["return"]


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
