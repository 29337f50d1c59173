"""The platform's names for the service (specs/PLATFORM_CONTRACT.md), mixed into TradeExecutionService.

Each contract method has one implementation: `preview_order` is `preview_trade`, `execute_order`
is `execute_trade` plus the contract's re-quote of an expired preview, `execute_orders` runs legs
through `execute_order`. The module's own names stay for existing callers (MCP tools, CLI, bench).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderStatus
from brokers.user_context import acting_for, belongs_to_another, parse_user_email
from services.order_store import OrderStore, new_event
from services.reports import BatchLeg, BatchResult
from services.results import OrderView, PreviewView
from services.routing import AdapterRouter

if TYPE_CHECKING:
    from services.queries import OrderQueries

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH_LEGS = 50
EXPIRED_MESSAGE = (
    "The preview expired, so nothing was placed. Prices may have changed: new_preview holds a fresh preview "
    "of the same order at current prices. Show it to the human; execute it (with its own preview_id) only "
    "after they confirm it."
)
PLACED_STATUSES = frozenset(
    {OrderStatus.PENDING, OrderStatus.ACCEPTED, OrderStatus.PARTIAL, OrderStatus.EXECUTED, OrderStatus.SIMULATED}
)


class PlatformContract:
    """Methods the platform's code calls by name; state comes from TradeExecutionService."""

    store: OrderStore
    router: AdapterRouter
    queries: OrderQueries

    if TYPE_CHECKING:  # provided by TradeExecutionService

        @staticmethod
        def _guarded(action: Callable[[], T]) -> T: ...

        def preview_trade(
            self, account_id: Any, ticker: Any, side: Any, quantity: Any, order_type: Any = "Market",
            limit_price: Any = None, stop_price: Any = None, time_in_force: Any = "Day",
        ) -> PreviewView: ...

        def execute_trade(self, preview_id: Any) -> OrderView: ...

    # --- the contract's names -------------------------------------------------------------
    def preview_order(
        self, account_id: Any, ticker: Any, side: Any, quantity: Any, order_type: Any = "Market",
        limit_price: Any = None, stop_price: Any = None, time_in_force: Any = "Day", *, user_email: Any = None,
    ) -> PreviewView:
        """`user_email` (optional): the platform user; stored on the preview, and only they may execute it."""
        user = parse_user_email(user_email)
        with acting_for(user):
            return self.preview_trade(account_id, ticker, side, quantity, order_type, limit_price, stop_price,
                                      time_in_force)

    def execute_order(self, preview_id: Any, *, user_email: Any = None) -> OrderView:
        """Place the previewed order once; an expired preview places nothing and comes back re-quoted.

        With `user_email`, another user's preview is refused as not found (audited)."""
        user = parse_user_email(user_email)
        owner = self._guarded(lambda: self._preview_owner(preview_id, user))
        with acting_for(owner or user):
            try:
                return self.execute_trade(preview_id)
            except TradeError as exc:
                if exc.code is not ErrorCode.PREVIEW_EXPIRED:
                    raise
                expired = exc
            return self._guarded(lambda: self._requote(expired))

    def execute_orders(self, preview_ids: Any, *, user_email: Any = None) -> BatchResult:
        """A basket: each leg exactly once and on its own (one leg's refusal does not stop the others)."""
        legs_ids = self._guarded(lambda: _batch_ids(preview_ids))
        user = parse_user_email(user_email)
        correlation = uuid.uuid4()
        self.store.audit(new_event("BATCH_REQUESTED", correlation_id=correlation,
                                   payload={"preview_ids": legs_ids}))
        legs = [self._leg(pid, user) for pid in legs_ids]
        result = BatchResult.of(legs)
        self.store.audit(new_event("BATCH_RESULT", correlation_id=correlation, status=result.status,
                                   payload={"legs": [{"preview_id": leg.preview_id, "status": leg.status}
                                                     for leg in legs]}))
        return result

    def _detect_account_provider(self, account_id: Any) -> str:
        """Which configured broker owns the account ('ibkr' or 'snaptrade'); exactly one must."""
        if not isinstance(account_id, str) or not 0 < len(account_id) <= 64:
            raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, "account_id must be a string of 1 to 64 characters",
                             {"field": "account_id"})
        return self._guarded(lambda: self.router.for_account(account_id).provider.value)

    # --- helpers ----------------------------------------------------------------------------
    def _requote(self, expired: TradeError) -> OrderView:
        raw_id = str(expired.details.get("preview_id") or "")
        with self.store.session_factory() as session:
            old = self.store.get_preview(session, uuid.UUID(raw_id))
        if old is None:
            raise expired
        message = EXPIRED_MESSAGE
        fresh: PreviewView | None = None
        error: str | None = ErrorCode.PREVIEW_EXPIRED.value
        try:
            fresh = self.preview_trade(old.account_id, old.ticker, old.side, old.quantity, old.order_type,
                                       old.limit_price, old.stop_price, old.time_in_force)
        except TradeError as refused:
            message = f"The preview expired, so nothing was placed; a fresh preview was refused: {refused.message}"
            error = refused.code.value
        order_id = expired.details.get("order_id")
        return OrderView(
            order_id=order_id, id=order_id, preview_id=raw_id, account_id=old.account_id,
            broker_provider=old.broker_provider, brokerage_order_id=None, status=OrderStatus.EXPIRED.value,
            ticker=old.ticker, side=old.side, quantity=old.quantity, order_type=old.order_type,
            limit_price=old.limit_price, stop_price=old.stop_price, time_in_force=old.time_in_force,
            error_code=error, error_message=expired.message, message=message, new_preview=fresh,
        )

    def _preview_owner(self, raw_preview_id: Any, user: str | None, *, audit: bool = True) -> str | None:
        """The preview's user; refuses (audited, as not found) when a different user is given."""
        try:
            preview_id = uuid.UUID(str(raw_preview_id))
        except ValueError:
            return None  # execute_trade reports the malformed id
        with self.store.session_factory() as session:
            row = self.store.get_preview(session, preview_id)
        owner = row.user_email if row is not None else None
        if belongs_to_another(owner, user):
            error = TradeError(ErrorCode.PREVIEW_NOT_FOUND, "no preview has this id for this user (it belongs to "
                               "another user): preview the order as this user", {"preview_id": str(preview_id)})
            if not audit:
                raise error
            self.store.audit(new_event("EXECUTE_REFUSED", correlation_id=uuid.uuid4(), preview_id=preview_id,
                                       error=error, payload={"reason": "another user's preview"}))
            raise error
        return owner

    def _leg(self, preview_id: str, user: str | None) -> BatchLeg:
        try:
            view = self.execute_order(preview_id, user_email=user)
        except TradeError as exc:
            return BatchLeg(preview_id=preview_id, status="failed", error=exc.to_dict())
        if view.new_preview is not None:
            return BatchLeg(preview_id=preview_id, status="reprieved", result=view,
                            new_preview_id=view.new_preview.preview_id)
        if view.status == OrderStatus.EXPIRED:
            return BatchLeg(preview_id=preview_id, status="failed", result=view)
        if view.status in PLACED_STATUSES:
            return BatchLeg(preview_id=preview_id, status="placed", result=view)
        return BatchLeg(preview_id=preview_id, status="unknown" if view.status in (
            OrderStatus.UNKNOWN, OrderStatus.SUBMITTING) else "failed", result=view)


def _batch_ids(preview_ids: Any) -> list[str]:
    """The legs in order, each once (a repeated id would only be refused as ALREADY_EXECUTED)."""
    if isinstance(preview_ids, str | bytes) or not isinstance(preview_ids, Sequence):
        raise TradeError(ErrorCode.VALIDATION_ERROR, "preview_ids must be a list of preview ids",
                         {"field": "preview_ids"})
    if not 0 < len(preview_ids) <= MAX_BATCH_LEGS:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"preview_ids must hold 1 to {MAX_BATCH_LEGS} ids",
                         {"field": "preview_ids"})
    seen: list[str] = []
    for value in preview_ids:
        text = str(value)[:80]
        if text not in seen:
            seen.append(text)
    return seen
