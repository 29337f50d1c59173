"""Typed tables. Numeric for money and quantities, timestamptz for time, JSONB for raw broker data."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, configure_mappers, mapped_column
from sqlalchemy.orm.instrumentation import manager_of_class

from brokers.models import ACTIVE_STATUSES, UNSETTLED_STATUSES, OrderStatus

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(20, 8)
Quantity = Numeric(20, 8)
BrokerNumber = Numeric(36, 16)
"""What a broker reports (fills, prices, commissions), kept at its own precision."""
WORKING_ORDER_STATUSES = ACTIVE_STATUSES | UNSETTLED_STATUSES
"""Orders that may still trade: the partial index and the execute-time holdings check use this set."""
ACTIVE_ORDER_FILTER = "status IN ({})".format(
    ", ".join(f"'{s.value}'" for s in OrderStatus if s in WORKING_ORDER_STATUSES)
)


class PreviewStatus(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    EXECUTED = "EXECUTED"
    SIMULATED = "SIMULATED"


def status_type(enum: type[StrEnum]) -> Enum:
    """A status column from its enum: VARCHAR(16) plus a CHECK listing exactly the enum's values."""
    return Enum(enum, native_enum=False, create_constraint=True, name="status", length=16,
                values_callable=lambda members: [m.value for m in members], validate_strings=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


RowClass = TypeVar("RowClass", bound=Base)


def row_object(cls: type[RowClass], values: dict[str, Any]) -> RowClass:
    """An instance holding a row the caller already has, built the way the ORM's loader builds one: the values
    go into its __dict__ at once instead of through one attribute event each (the constructor's ~30 events per
    row were a measurable part of an execute's CPU). Not attached to any session; later changes to it are
    tracked as usual."""
    manager = manager_of_class(cls)
    if not manager.mapper.configured:  # the constructor would configure the mappers; new_instance() does not
        configure_mappers()
    instance: RowClass = manager.new_instance()
    instance.__dict__.update(values)
    return instance


class TradePreview(Base):
    __tablename__ = "trade_previews"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("side IN ('BUY', 'SELL')", name="side"),
        CheckConstraint(
            "order_type IN ('Market', 'Limit', 'Stop', 'StopLimit', 'TrailingStop', 'TrailingStopLimit', "
            "'MarketOnClose', 'MarketOnOpen')",
            name="order_type",
        ),
        CheckConstraint("time_in_force IN ('Day', 'GTC', 'IOC', 'FOK')", name="time_in_force"),
        CheckConstraint("broker_provider IN ('snaptrade', 'ibkr')", name="broker_provider"),
        CheckConstraint("trading_mode IN ('paper', 'live')", name="trading_mode"),
        Index(None, "account_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64))
    broker_provider: Mapped[str] = mapped_column(String(16), server_default=text("'snaptrade'"))
    ticker: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    order_type: Mapped[str] = mapped_column(String(24))
    limit_price: Mapped[Decimal | None] = mapped_column(Money)
    stop_price: Mapped[Decimal | None] = mapped_column(Money)
    time_in_force: Mapped[str] = mapped_column(String(8), server_default=text("'Day'"))
    estimated_price: Mapped[Decimal | None] = mapped_column(Money)
    estimated_total: Mapped[Decimal | None] = mapped_column(Money)
    estimated_commission: Mapped[Decimal | None] = mapped_column(Money)
    broker_symbol_id: Mapped[str | None] = mapped_column(String(128))
    snaptrade_trade_id: Mapped[str | None] = mapped_column(String(64))
    universal_symbol_id: Mapped[str | None] = mapped_column(String(128))
    """The platform's name for broker_symbol_id, kept equal by a trigger (migration te0003_dropin)."""
    user_email: Mapped[str | None] = mapped_column(String(254))
    broker_preview_data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    order_options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    """Fields only some order types use (trailing amount/percent, trail stop, limit offset, outside_rth)."""
    validation: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    impact: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[PreviewStatus] = mapped_column(status_type(PreviewStatus), server_default=text("'ACTIVE'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    orders_enabled: Mapped[bool | None] = mapped_column(Boolean)
    """The mode the preview was made in: an execute in another mode is refused (NULL: made before it was kept)."""
    trading_mode: Mapped[str | None] = mapped_column(String(8))


class TradeOrder(Base):
    __tablename__ = "trade_orders"
    __table_args__ = (
        CheckConstraint("broker_provider IN ('snaptrade', 'ibkr')", name="broker_provider"),
        CheckConstraint("filled_quantity >= 0", name="filled_nonnegative"),
        Index(None, "account_id", "created_at"),
        Index(None, "created_at"),
        Index("ix_trade_orders_unsettled", "updated_at", postgresql_where=text(ACTIVE_ORDER_FILTER)),
        Index("ix_trade_orders_working_account", "account_id", "broker_provider",
              postgresql_where=text(ACTIVE_ORDER_FILTER)),
        Index(None, "brokerage_order_id"),
        Index(None, "user_email", "created_at"),
        Index("ix_trade_orders_recheck_until", "recheck_until", postgresql_where=text("recheck_until IS NOT NULL")),
        CheckConstraint("leg_role IN ('entry', 'take_profit', 'stop_loss')", name="leg_role"),
        CheckConstraint(
            "(preview_id IS NOT NULL AND parent_order_id IS NULL) OR "
            "(preview_id IS NULL AND parent_order_id IS NOT NULL AND leg_role IN ('take_profit', 'stop_loss'))",
            name="leg_anchor",
        ),
        UniqueConstraint("parent_order_id", "leg_role"),
        Index(None, "parent_order_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    preview_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("trade_previews.id", ondelete="RESTRICT"), unique=True
    )
    """The exactly-once anchor: the order (or a set's entry) of one preview. NULL on a set's child legs."""
    parent_order_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("trade_orders.id", ondelete="RESTRICT")
    )
    """A child leg's entry row (brackets, te0008_order_sets)."""
    leg_role: Mapped[str | None] = mapped_column(String(16))
    """entry / take_profit / stop_loss for the legs of a set; NULL for a single order."""
    account_id: Mapped[str] = mapped_column(String(64))
    broker_provider: Mapped[str] = mapped_column(String(16), server_default=text("'snaptrade'"))
    client_order_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    brokerage_order_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[OrderStatus] = mapped_column(status_type(OrderStatus))
    filled_quantity: Mapped[Decimal] = mapped_column(BrokerNumber, server_default=text("0"))
    remaining_quantity: Mapped[Decimal | None] = mapped_column(BrokerNumber)
    average_fill_price: Mapped[Decimal | None] = mapped_column(BrokerNumber)
    commission: Mapped[Decimal | None] = mapped_column(BrokerNumber)
    broker_quantity: Mapped[Decimal | None] = mapped_column(BrokerNumber)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    brokerage_response: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    order_status: Mapped[str | None] = mapped_column(String(32))
    """The platform's status column: legacy values kept as written, `status` the mapped one (te0003_dropin)."""
    user_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the status first became EXECUTED (fully filled) (te0006_order_times)."""
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the status first became CANCELED."""
    recheck_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """A final status that was inferred, not stated by the broker: reconciliation re-checks it until then."""
    attention: Mapped[str | None] = mapped_column(String(40))
    """Something an operator must look at (MISSING_AT_BROKER, OVERFILLED); the evidence is in trade_events."""
    missing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    """The order's current terms once a modification was applied (trade_modifications); NULL: as previewed."""
    limit_price: Mapped[Decimal | None] = mapped_column(Money)
    stop_price: Mapped[Decimal | None] = mapped_column(Money)
    order_options: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class TradeEvent(Base):
    """Append-only audit trail: every attempt, refusal and change, with a correlation id."""

    __tablename__ = "trade_events"
    __table_args__ = (
        Index(None, "preview_id"),
        Index(None, "order_id"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    event_type: Mapped[str] = mapped_column(String(40))
    correlation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    preview_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    account_id: Mapped[str | None] = mapped_column(String(64))
    broker_provider: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


APPROVAL_STATUSES = ("PENDING", "CONFIRMED", "DECLINED", "EXPIRED")


class TradeApproval(Base):
    """A human decision awaited on the /ui page (EXECUTE_CONFIRMATION=browser): at most one per preview.

    preview_id carries no foreign key on purpose: TRUNCATE of trade_previews (tests, bench) must keep working.
    """

    __tablename__ = "trade_approvals"
    __table_args__ = (
        CheckConstraint(
            "status IN ('PENDING', 'CONFIRMED', 'DECLINED', 'EXPIRED')", name="status"
        ),
        Index("ix_trade_approvals_status_requested_at", "status", "requested_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    preview_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    account_id: Mapped[str] = mapped_column(String(64))
    broker_provider: Mapped[str] = mapped_column(String(16))
    is_paper: Mapped[bool] = mapped_column(Boolean)
    account_label: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    outcome_code: Mapped[str | None] = mapped_column(String(32))
    outcome_message: Mapped[str | None] = mapped_column(Text)


class ModificationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    """Previewed; may be executed once until it expires."""
    EXPIRED = "EXPIRED"
    SENDING = "SENDING"
    """Consumed: the broker call is running (or the process died during it: treat as UNKNOWN)."""
    APPLIED = "APPLIED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    """Nothing reached the broker."""
    UNKNOWN = "UNKNOWN"
    """Sent, no answer: the broker may have applied it. Never re-sent blindly."""
    SIMULATED = "SIMULATED"


class TradeModification(Base):
    """A previewed change of a working order's terms, confirmed by a human and applied at most once."""

    __tablename__ = "trade_modifications"
    __table_args__ = (
        CheckConstraint("new_quantity > 0", name="new_quantity_positive"),
        CheckConstraint("trading_mode IN ('paper', 'live')", name="trading_mode"),
        Index(None, "order_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("trade_orders.id", ondelete="RESTRICT")
    )
    account_id: Mapped[str] = mapped_column(String(64))
    broker_provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[ModificationStatus] = mapped_column(
        status_type(ModificationStatus), server_default=text("'ACTIVE'")
    )
    old_terms: Mapped[dict[str, Any]] = mapped_column(JSONB)
    new_terms: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """quantity, limit_price, stop_price and the order options, as exact decimal text."""
    new_quantity: Mapped[Decimal] = mapped_column(Quantity)
    estimated_total: Mapped[Decimal | None] = mapped_column(Money)
    impact: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    orders_enabled: Mapped[bool] = mapped_column(Boolean)
    trading_mode: Mapped[str] = mapped_column(String(8))
    user_email: Mapped[str | None] = mapped_column(String(254))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    broker_response: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
