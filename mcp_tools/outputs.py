"""The structured result of each tool, published as its outputSchema.

Built on the very models the service returns (so a field the service adds or renames is
published with it) and open to extra fields: the schema promises what a client can rely on
without turning a new field into a failed call. Money and quantities are decimal strings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from brokers.market_models import AccountPnL, AccountSummary, Bar, OptionChain, Quotes
from brokers.records import AccountBalance, BrokerAccount, Position, SymbolMatch
from services.reports import BrokerErrorEntry
from services.results import OrderView, PreviewView

OPEN = ConfigDict(extra="allow", frozen=False)


class ToolResult(BaseModel):
    model_config = OPEN


class AccountsResult(ToolResult):
    accounts: list[BrokerAccount]
    broker_errors: list[BrokerErrorEntry] = []
    count: int
    trading_mode: str
    orders_enabled: bool
    trading_blocked: str | None


class SymbolsResult(ToolResult):
    account_id: str
    ticker: str
    matches: list[SymbolMatch]
    count: int


class QuoteResult(ToolResult):
    account_id: str
    ticker: str
    bid: str | None = None
    ask: str | None = None
    last: str | None = None
    close: str | None = None
    currency: str
    delayed: bool
    reference_price: str | None


class BalanceResult(AccountBalance):
    model_config = OPEN


class PositionsResult(ToolResult):
    account_id: str
    positions: list[Position]
    count: int


class PreviewResult(PreviewView):
    model_config = OPEN

    orders_enabled: bool
    next_step: str


class OrderResult(OrderView):
    model_config = OPEN

    simulated: bool
    placed: bool
    message: str


class ExecuteResult(ToolResult):
    """An order (the OrderResult fields), or, with EXECUTE_CONFIRMATION=browser, the wait for the human."""

    preview_id: str
    status: str
    placed: bool
    message: str
    order_id: str | None = None


class OrdersResult(ToolResult):
    orders: list[OrderResult]
    count: int
    account_id: str | None
    state: str
    days: int


class CancelOutcome(ToolResult):
    """One order of a multi-order cancel: the order's fields (as OrderResult) when it could be read."""

    order_id: str | None
    canceled: bool
    status: str | None = None
    error: dict[str, Any] | None = None


class CancelOrdersResult(ToolResult):
    account_id: str | None = None
    order_ids: list[str] = []
    orders: list[CancelOutcome]
    count: int
    canceled: int
    not_canceled: int


class StatusOutcome(ToolResult):
    """One order of get_orders_status: the order's fields (as OrderResult), or found false and the error."""

    order_id: str
    found: bool
    status: str | None = None
    error: dict[str, Any] | None = None


class OrdersStatusResult(ToolResult):
    order_ids: list[str]
    orders: list[StatusOutcome]
    count: int
    found: int
    not_found: int


# --- market data and analytics (mcp_tools/market_tools.py) ----------------------------------------------
class BarsResult(ToolResult):
    account_id: str
    ticker: str
    bars: list[Bar]
    count: int


class QuotesResult(Quotes):
    model_config = OPEN

    count: int
    failed: int


class PnLResult(AccountPnL):
    model_config = OPEN


class AccountSummaryResult(AccountSummary):
    model_config = OPEN


class OptionChainResult(OptionChain):
    model_config = OPEN
