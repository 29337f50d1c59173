"""Steps 1-2 of the execute protocol: refuse, or commit the intent row before any broker call.

The preview row is locked FOR UPDATE and the order row inserted in the same
transaction; UNIQUE(trade_orders.preview_id) backs this up across processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderRequest, OrderStatus, parse_order_request
from db.engine import transaction
from db.models import TradeOrder, TradePreview
from services import validation as checks
from services.order_store import OrderStore, new_event, utcnow
from services.results import OrderView
from services.routing import AdapterRouter
from services.validation import RiskLimits
from settings import Settings, TradingMode


def order_exists_error(preview_id: uuid.UUID, order_id: uuid.UUID | None, status: str | None) -> TradeError:
    """ALREADY_EXECUTED worded by what exists: a SIMULATED order was never sent, so it is not called executed."""
    sent = " (simulated: nothing was sent to the broker)" if status == "SIMULATED" else ""
    return TradeError(
        ErrorCode.ALREADY_EXECUTED,
        f"an order already exists for this preview: order_id {order_id or 'unknown'}, status {status or 'unknown'}"
        f"{sent}; report it to the human (get_order_status) and preview again only if they ask for an additional "
        "order",
        {"preview_id": str(preview_id), "order_id": str(order_id) if order_id else None, "status": status},
    )


@dataclass(frozen=True)
class Intent:
    order_id: uuid.UUID
    client_order_ref: str
    provider: str
    request: OrderRequest
    broker_symbol_id: str | None
    broker_trade_id: str | None
    preview_data: dict[str, Any]
    simulated: OrderView | None = None


def parse_preview_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise TradeError(
            ErrorCode.PREVIEW_NOT_FOUND, "preview_id is not a valid preview id", {"preview_id": str(value)[:80]}
        ) from None


def request_of(preview: TradePreview) -> OrderRequest:
    return parse_order_request(
        account_id=preview.account_id, ticker=preview.ticker, side=preview.side, quantity=preview.quantity,
        order_type=preview.order_type, limit_price=preview.limit_price, stop_price=preview.stop_price,
        time_in_force=preview.time_in_force, **(preview.order_options or {}),
    )


class ExecutionGate:
    def __init__(
        self, settings: Settings, store: OrderStore, router: AdapterRouter, limits: RiskLimits,
        checkpoint: Callable[[str], None],
    ) -> None:
        self.checkpoint = checkpoint
        self.settings = settings
        self.store = store
        self.router = router
        self.limits = limits
        self.blockers: list[Callable[[], str | None]] = []
        """Further reasons trading is off right now (e.g. start-up reconciliation not completed)."""

    def commit_intent(self, raw_preview_id: Any, correlation: uuid.UUID) -> Intent:
        preview_id: uuid.UUID | None = None
        try:
            preview_id = parse_preview_id(raw_preview_id)
            self.store.audit(new_event("EXECUTE_REQUESTED", correlation_id=correlation, preview_id=preview_id))
            self._check_trading_allowed(preview_id)
            return self._lock_and_insert(preview_id, correlation)
        except TradeError as exc:
            self.store.audit(
                new_event(
                    "EXECUTE_REFUSED", correlation_id=correlation, preview_id=preview_id, error=exc,
                    payload={"error": exc.to_dict()},
                )
            )
            raise

    def _check_trading_allowed(self, preview_id: uuid.UUID) -> None:
        """Kill switch and live-trading rules: refusals that change nothing, checked before any lock."""
        reason = self.settings.trading_block_reason() or next(filter(None, (b() for b in self.blockers)), None)
        if reason:
            raise TradeError(ErrorCode.TRADING_DISABLED, reason, {"preview_id": str(preview_id)})
        if not self.settings.orders_enabled or self.settings.trading_mode is not TradingMode.PAPER:
            return
        with self.store.session_factory() as session:
            preview = self.store.get_preview(session, preview_id)
        if preview is None:
            raise TradeError(ErrorCode.PREVIEW_NOT_FOUND, "no such preview", {"preview_id": str(preview_id)})
        adapter = self.router.for_provider(preview.broker_provider)
        if not adapter.is_paper_account(preview.account_id):
            raise TradeError(
                ErrorCode.TRADING_DISABLED,
                f"TRADING_MODE=paper: account {preview.account_id} is not a paper account, so no order is placed",
                {"account_id": preview.account_id, "trading_mode": "paper"},
            )

    def _lock_and_insert(self, preview_id: uuid.UUID, correlation: uuid.UUID) -> Intent:
        expired = False
        try:
            with transaction(self.store.session_factory) as session:
                preview = self.store.get_preview(session, preview_id, lock=True)
                if preview is None:
                    raise TradeError(ErrorCode.PREVIEW_NOT_FOUND, "no such preview", {"preview_id": str(preview_id)})
                existing = self.store.order_for_preview(session, preview_id)
                if existing is not None or preview.status in ("EXECUTED", "SIMULATED"):
                    raise order_exists_error(preview_id, existing.id if existing else None,
                                             existing.status if existing else preview.status)
                if preview.status == "ACTIVE" and utcnow() >= preview.expires_at:
                    preview.status = "EXPIRED"
                    session.add(new_event("PREVIEW_EXPIRED", correlation_id=correlation, preview_id=preview.id,
                                          account_id=preview.account_id, provider=preview.broker_provider))
                    expired = True
                else:
                    return self._insert_intent(session, preview, correlation)
        except IntegrityError:
            raise order_exists_error(preview_id, None, None) from None
        assert expired
        raise TradeError(
            ErrorCode.PREVIEW_EXPIRED, "the preview has expired; preview the trade again",
            {"preview_id": str(preview_id)},
        )

    def _insert_intent(self, session: Any, preview: TradePreview, correlation: uuid.UUID) -> Intent:
        if preview.status != "ACTIVE":
            if preview.status != "EXPIRED":
                raise order_exists_error(preview.id, None, preview.status)
            raise TradeError(ErrorCode.PREVIEW_EXPIRED, f"the preview is {preview.status}",
                             {"preview_id": str(preview.id)})
        request = request_of(preview)
        checks.check_quantity_limit(request.quantity, self.limits)
        if preview.estimated_total is not None:
            checks.check_notional(abs(preview.estimated_total - (preview.estimated_commission or Decimal(0))),
                                  self.limits)
        simulated = not self.settings.orders_enabled
        now = utcnow()
        row = TradeOrder(
            id=uuid.uuid4(), preview_id=preview.id, account_id=preview.account_id,
            broker_provider=preview.broker_provider, client_order_ref=str(uuid.uuid4()),
            status=(OrderStatus.SIMULATED if simulated else OrderStatus.SUBMITTING).value,
            filled_quantity=Decimal(0), remaining_quantity=preview.quantity,
            brokerage_response={}, created_at=now, submitted_at=None if simulated else now, updated_at=now,
            user_email=preview.user_email,
        )
        preview.status = "SIMULATED" if simulated else "EXECUTED"
        session.add(row)
        session.flush()
        session.add(
            new_event(
                "ORDER_SIMULATED" if simulated else "ORDER_SUBMITTING", correlation_id=correlation,
                preview_id=preview.id, order_id=row.id, account_id=row.account_id,
                provider=row.broker_provider, status=row.status,
                message="ORDERS_ENABLED=false: recorded, not sent" if simulated else None,
                payload={"client_order_ref": row.client_order_ref},
            )
        )
        session.flush()
        self.checkpoint("before_intent_commit")
        return Intent(
            order_id=row.id, client_order_ref=row.client_order_ref or "", provider=row.broker_provider,
            request=request, broker_symbol_id=preview.broker_symbol_id,
            broker_trade_id=preview.snaptrade_trade_id, preview_data=preview.broker_preview_data,
            simulated=OrderView.of(row, preview) if simulated else None,
        )
