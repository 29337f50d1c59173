"""What the service returns: plain, JSON-ready views of stored rows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from brokers.models import BrokerAccount
from db.models import TradeOrder, TradePreview


class View(BaseModel):
    model_config = ConfigDict(frozen=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class PreviewView(View):
    preview_id: str
    account_id: str
    broker_provider: str
    ticker: str
    side: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str
    estimated_price: Decimal | None
    estimated_commission: Decimal | None
    estimated_total: Decimal | None
    status: str
    created_at: datetime
    expires_at: datetime
    impact: dict[str, Any]
    warnings: list[str]
    summary: str
    order_options: dict[str, Any] = {}
    """Trailing amount/percent, trail stop, limit offset, outside_rth: for the order types that use them."""

    @classmethod
    def of(cls, row: TradePreview) -> PreviewView:
        return cls(
            preview_id=str(row.id),
            account_id=row.account_id,
            broker_provider=row.broker_provider,
            ticker=row.ticker,
            side=row.side,
            quantity=row.quantity,
            order_type=row.order_type,
            limit_price=row.limit_price,
            stop_price=row.stop_price,
            time_in_force=row.time_in_force,
            estimated_price=row.estimated_price,
            estimated_commission=row.estimated_commission,
            estimated_total=row.estimated_total,
            status=row.status,
            created_at=row.created_at,
            expires_at=row.expires_at,
            impact=row.impact,
            warnings=list(row.validation.get("warnings", [])),
            summary=describe(row),
            order_options=dict(row.order_options or {}),
        )


def describe(row: TradePreview) -> str:
    """The one-line order summary a human confirms."""
    qty = _plain(row.quantity)
    price = ""
    if row.order_type == "Limit":
        price = f" limit {_plain(row.limit_price)}"
    elif row.order_type == "Stop":
        price = f" stop {_plain(row.stop_price)}"
    elif row.order_type == "StopLimit":
        price = f" stop {_plain(row.stop_price)} limit {_plain(row.limit_price)}"
    price += "".join(f" {name.replace('_', ' ')} {value}" for name, value in (row.order_options or {}).items()
                     if name != "outside_rth")
    if (row.order_options or {}).get("outside_rth"):
        price += " outside regular hours"
    total = f", est. total {row.estimated_total:.2f}" if row.estimated_total is not None else ""
    return (
        f"{row.side} {qty} {row.ticker} {row.order_type}{price} {row.time_in_force} "
        f"in {row.broker_provider} account {row.account_id}{total}"
    )


def _plain(value: Decimal | None) -> str:
    if value is None:
        return "?"
    text = format(value.normalize(), "f")
    return text


class OrderView(View):
    order_id: str
    preview_id: str
    account_id: str
    broker_provider: str
    client_order_ref: str | None
    brokerage_order_id: str | None
    status: str
    ticker: str | None = None
    side: str | None = None
    quantity: Decimal | None = None
    order_type: str | None = None
    filled_quantity: Decimal
    remaining_quantity: Decimal | None
    average_fill_price: Decimal | None
    commission: Decimal | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    stale: bool = False
    attention: str | None = None

    @classmethod
    def of(cls, row: TradeOrder, preview: TradePreview | None = None, *, stale: bool = False) -> OrderView:
        return cls(
            order_id=str(row.id),
            preview_id=str(row.preview_id),
            account_id=row.account_id,
            broker_provider=row.broker_provider,
            client_order_ref=row.client_order_ref,
            brokerage_order_id=row.brokerage_order_id,
            status=row.status,
            ticker=preview.ticker if preview else None,
            side=preview.side if preview else None,
            quantity=preview.quantity if preview else None,
            order_type=preview.order_type if preview else None,
            filled_quantity=row.filled_quantity,
            remaining_quantity=row.remaining_quantity,
            average_fill_price=row.average_fill_price,
            commission=row.commission,
            error_code=row.error_code,
            error_message=row.error_message,
            created_at=row.created_at,
            updated_at=row.updated_at,
            stale=stale,
            attention=row.attention,
        )


class ReconcileReport(View):
    examined: int
    settled: dict[str, str]
    still_unknown: list[str]
    failed: list[str]
    errors: list[dict[str, Any]]
    corrected: dict[str, str] = {}
    """Orders whose final status the broker contradicted: order id -> 'BELIEVED->NOW'."""
    flagged: dict[str, str] = {}
    """Orders newly flagged for an operator (MISSING_AT_BROKER, OVERFILLED)."""
    rechecked: list[str] = []
    """Inferred final statuses re-checked and still not contradicted."""
    skipped: list[str] = []
    """Placements still in flight in this process, or accounts another process was reconciling."""
    busy: bool = False
    """Another reconciliation was running in this process, so this one did not run."""


class BrokerErrorEntry(View):
    provider: str
    error_code: str
    message: str


class TradeableAccounts(View):
    """Accounts of every broker that answered, and an entry for each broker that did not."""

    accounts: list[BrokerAccount]
    broker_errors: list[BrokerErrorEntry]
