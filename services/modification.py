"""Modify a working order: preview, confirm, apply exactly once (issue 16).

The same discipline as a new order (services/execute_path.py):
1. preview: every refusal that needs no human is decided here (order unknown, another user's or
   not working; a field that does not fit the order type; a quantity not above what has filled;
   nothing changed; the broker cannot modify; kill switch) and the pre-trade checks run on the
   new terms of the unfilled part (`services.preview.assess`). The change is stored ACTIVE.
2. claim (one commit, before the broker call): ACTIVE -> SENDING by a conditional UPDATE, with the
   order row locked and re-checked; with orders off the change is SIMULATED and nothing is sent.
3. one broker call, never retried; 4. the outcome is written onto a row still SENDING, and an
   applied change updates the order row's terms. A timeout after sending is UNKNOWN.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from brokers.base import BrokerAdapter
from brokers.errors import ErrorCode, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.models import ACTIVE_STATUSES, OrderRequest, OrderStatus
from brokers.records import BrokerOrder, OrderToPlace
from brokers.user_context import belongs_to_another, current_user_email
from db.engine import transaction
from db.models import ModificationStatus, TradeModification, TradeOrder, TradePreview
from services import modification_sql as sql
from services import validation as checks
from services.confirmation import execution_warnings
from services.execute_path import status_for_error
from services.execution_gate import ExecutionGate
from services.modification_exit_checks import exit_leg_checks
from services.modification_exposure import check_changed_order
from services.modification_settle import write_terms
from services.modification_terms import (
    ModificationTerms,
    current_request,
    modified_request,
    terms_of,
    with_terms,
)
from services.modification_view import ModificationView
from services.order_store import OrderStore, new_event, utcnow
from services.order_updates import apply_broker_order
from services.preview import assess
from services.routing import AdapterRouter
from services.set_legs import CHILD_ROLES, preview_of
from services.validation import RiskAssessment, RiskLimits
from settings import Settings, TradingMode

log = logging.getLogger(__name__)
OUTCOMES = {OrderStatus.REJECTED: ModificationStatus.REJECTED, OrderStatus.FAILED: ModificationStatus.FAILED,
            OrderStatus.UNKNOWN: ModificationStatus.UNKNOWN}
EVENTS = {ModificationStatus.APPLIED: "MODIFICATION_APPLIED", ModificationStatus.REJECTED: "MODIFICATION_REJECTED",
          ModificationStatus.FAILED: "MODIFICATION_FAILED", ModificationStatus.UNKNOWN: "MODIFICATION_OUTCOME_UNKNOWN"}


@dataclass(frozen=True)
class Claim:
    modification: TradeModification
    order: TradeOrder
    preview: TradePreview
    request: OrderRequest
    adapter: BrokerAdapter


@dataclass(frozen=True)
class ExecutableModification:
    view: ModificationView
    simulated: bool


class _NotClaimed(Exception):
    pass


def _refusal(code: ErrorCode, message: str, order_id: uuid.UUID, **details: Any) -> TradeError:
    return TradeError(code, message, {"order_id": str(order_id), **details})


class Modifications:
    def __init__(self, settings: Settings, store: OrderStore, router: AdapterRouter, gate: ExecutionGate,
                 limits: RiskLimits) -> None:
        self.settings, self.store, self.router, self.gate, self.limits = settings, store, router, gate, limits

    # --- 1. preview ------------------------------------------------------------------------------
    def preview(self, order_id: uuid.UUID, terms: ModificationTerms, correlation: uuid.UUID) -> ModificationView:
        try:
            self.gate.refuse_if_blocked(None)
            with self.store.session_factory() as session:
                order, preview = self._own_order(session, order_id)
            adapter = self.router.for_provider(order.broker_provider)
            if not adapter.capabilities.modify_orders:
                raise _refusal(ErrorCode.UNSUPPORTED_ORDER, f"{adapter.provider.value} orders cannot be modified "
                               "through this module; cancel the order and preview a new one", order_id)
            _refuse_not_working(order)
            old = current_request(order, preview)
            new = modified_request(old, terms)
            self._refuse_pointless(order, old, new)
            self._refuse_live_in_paper(adapter, order)
            risk = self._checks(order, preview, new, adapter)
            row = self._store(order, preview, old, new, risk, adapter, correlation)
        except TradeError as exc:
            self._audit(order_id, None, correlation, "MODIFICATION_REFUSED", exc, stage="preview")
            raise
        return ModificationView.of(row, order, preview)

    def _own_order(self, session: Session, order_id: uuid.UUID) -> tuple[TradeOrder, TradePreview]:
        """The order and its preview; another user's order is not found."""
        order = self.store.get_order(session, order_id)
        preview = preview_of(session, order) if order is not None else None  # a bracket leg's: its entry's
        if order is None or preview is None or belongs_to_another(order.user_email, current_user_email()):
            raise _refusal(ErrorCode.ORDER_NOT_FOUND, "no order has this id (use the order_id from execute_trade "
                           "or get_orders)", order_id)
        return order, preview

    def _working_order(self, session: Session, order_id: uuid.UUID) -> tuple[TradeOrder, TradePreview]:
        order, preview = self._own_order(session, order_id)
        _refuse_not_working(order)
        return order, preview

    def _refuse_pointless(self, order: TradeOrder, old: OrderRequest, new: OrderRequest) -> None:
        _refuse_filled(order, new.quantity)
        if order.leg_role is not None and new.quantity != old.quantity:
            raise _refusal(ErrorCode.UNSUPPORTED_ORDER, "the legs of a bracket share one quantity, so one leg's "
                           "quantity cannot change on its own; its prices can", order.id)
        if terms_of(old) == terms_of(new):
            raise _refusal(ErrorCode.VALIDATION_ERROR, "nothing to change: the order already has these terms",
                           order.id, problems=[{"field": "order", "problem": "nothing changed"}])

    def _refuse_live_in_paper(self, adapter: BrokerAdapter, order: TradeOrder) -> None:
        paper_only = self.settings.orders_enabled and self.settings.trading_mode is TradingMode.PAPER
        if paper_only and not adapter.is_paper_account(order.account_id):
            raise _refusal(ErrorCode.TRADING_DISABLED, f"TRADING_MODE=paper: account {order.account_id} is not a "
                           "paper account, so its orders are not changed", order.id, trading_mode="paper")

    def _checks(self, order: TradeOrder, preview: TradePreview, new: OrderRequest,
                adapter: BrokerAdapter) -> RiskAssessment:
        """The new order's size limit, then every pre-trade check on what is still to trade."""
        checks.check_quantity_limit(new.quantity, self.limits)
        unfilled = new.model_copy(update={"quantity": new.quantity - order.filled_quantity})
        if order.leg_role in CHILD_ROLES:
            risk = exit_leg_checks(unfilled, preview, adapter, self.limits)
        else:
            _broker_preview, risk = assess(unfilled, adapter, self.limits)
        risk.warnings.extend(execution_warnings(self.settings, adapter, order.account_id))
        return risk

    def _store(self, order: TradeOrder, preview: TradePreview, old: OrderRequest, new: OrderRequest,
               risk: RiskAssessment, adapter: BrokerAdapter, correlation: uuid.UUID) -> TradeModification:
        now = utcnow()
        row = TradeModification(
            id=uuid.uuid4(), order_id=order.id, account_id=order.account_id, broker_provider=adapter.provider.value,
            status=ModificationStatus.ACTIVE, old_terms=terms_of(old), new_terms=terms_of(new),
            new_quantity=new.quantity, estimated_total=risk.estimated_total, impact=risk.as_json(),
            orders_enabled=self.settings.orders_enabled, trading_mode=self.settings.trading_mode.value,
            user_email=current_user_email() or order.user_email, broker_response={}, created_at=now,
            expires_at=now + timedelta(seconds=self.settings.preview_ttl_seconds),
        )
        with transaction(self.store.session_factory) as session:
            session.add(row)
            session.add(self._event("MODIFICATION_PREVIEWED", row, preview.id, correlation,
                                    payload={"old": row.old_terms, "new": row.new_terms,
                                             "estimated_total": risk.estimated_total}))
        return row

    # --- before a human is asked -----------------------------------------------------------------
    def executable(self, modification_id: uuid.UUID) -> ExecutableModification:
        """What a confirmation shows, or the refusal that needs no human (the caller records it)."""
        self.gate.refuse_if_blocked(None)
        with self.store.session_factory() as session:
            row = session.get(TradeModification, modification_id)
            if row is None or row.status is not ModificationStatus.ACTIVE or row.expires_at <= utcnow():
                raise self._not_active(row, modification_id)
            order, preview = self._working_order(session, row.order_id)
            self._refuse_other_mode(row)
            self._refuse_live_in_paper(self.router.for_provider(row.broker_provider), order)
            _refuse_stale(row, order, preview)
            _refuse_in_flight(session, row)
            view = ModificationView.of(row, order, preview)
            return ExecutableModification(view, simulated=not self.settings.orders_enabled)

    def _refuse_other_mode(self, row: TradeModification) -> None:
        mode = self.settings.trading_mode.value
        if row.orders_enabled is not self.settings.orders_enabled or row.trading_mode != mode:
            raise _refusal(ErrorCode.TRADING_DISABLED, "the modification was previewed with ORDERS_ENABLED="
                           f"{str(row.orders_enabled).lower()} and TRADING_MODE={row.trading_mode}; this process runs "
                           f"with ORDERS_ENABLED={str(self.settings.orders_enabled).lower()} and TRADING_MODE={mode}: "
                           "nothing was sent; preview the change again", row.order_id,
                           modification_id=str(row.id))

    def _not_active(self, row: TradeModification | None, modification_id: uuid.UUID) -> TradeError:
        details = {"modification_id": str(modification_id),  # the fix a model reads (not preview_trade's)
                   "fix": "Call preview_modification again, show its summary to the human and ask again."}
        if row is None:
            return TradeError(ErrorCode.PREVIEW_NOT_FOUND, "no modification has this id: call preview_modification "
                              "and use the modification_id it returns", details)
        details["order_id"] = str(row.order_id)
        if row.status in (ModificationStatus.ACTIVE, ModificationStatus.EXPIRED):
            return TradeError(ErrorCode.PREVIEW_EXPIRED, "the modification preview has expired; nothing was "
                              "changed. Preview the change again and ask the human again", details)
        details.pop("fix")
        return TradeError(ErrorCode.ALREADY_EXECUTED, f"this modification was already executed (status "
                          f"{row.status.value}); it is never sent twice. Check get_order_status", details)

    # --- 2-4. execute -----------------------------------------------------------------------------
    def execute(self, modification_id: uuid.UUID, correlation: uuid.UUID) -> ModificationView:
        try:
            self.gate.refuse_if_blocked(None)
            claim = self._claim(modification_id, correlation)
        except _NotClaimed:
            refused = self._explain_unclaimed(modification_id)
            self._audit(None, modification_id, correlation, "MODIFICATION_REFUSED", refused, stage="execute")
            raise refused from None
        except TradeError as exc:
            self._audit(None, modification_id, correlation, "MODIFICATION_REFUSED", exc, stage="execute")
            raise
        if claim.modification.status is ModificationStatus.SIMULATED:
            return ModificationView.of(claim.modification, claim.order, claim.preview, with_order=True)
        outcome, error = self._send(claim)
        return self._record(claim, correlation, outcome, error)

    def _claim(self, modification_id: uuid.UUID, correlation: uuid.UUID) -> Claim:
        sending = ModificationStatus.SENDING if self.settings.orders_enabled else ModificationStatus.SIMULATED
        with transaction(self.store.session_factory) as session:
            row = sql.claim(session, modification_id, sending, utcnow())
            if row is None:
                raise _NotClaimed
            self.store.get_order(session, row.order_id, lock=True)
            order, preview = self._working_order(session, row.order_id)
            self._refuse_other_mode(row)
            adapter = self.router.for_provider(row.broker_provider)
            self._refuse_live_in_paper(adapter, order)
            request = _refuse_stale(row, order, preview)
            _refuse_in_flight(session, row)
            if sending is ModificationStatus.SENDING:
                self._checks(order, preview, request, adapter)  # the pre-trade checks again, at today's prices
                check_changed_order(session, self.gate, row.id, order, preview,
                                    (current_request(order, preview), request), adapter)
            event = "MODIFICATION_REQUESTED" if sending is ModificationStatus.SENDING else "MODIFICATION_SIMULATED"
            session.add(self._event(event, row, preview.id, correlation, payload={"new": row.new_terms}))
            session.flush()
            session.expunge_all()
        return Claim(row, order, preview, request, adapter)

    def _explain_unclaimed(self, modification_id: uuid.UUID) -> TradeError:
        with transaction(self.store.session_factory) as session:
            sql.expire_if_due(session, modification_id)
            return self._not_active(session.get(TradeModification, modification_id), modification_id)

    def _send(self, claim: Claim) -> tuple[BrokerOrder | None, TradeError | None]:
        """Once; anything that is not one of the three outcome types may have been applied."""
        order, adapter = claim.order, claim.adapter
        to_place = OrderToPlace(request=claim.request, broker_symbol_id=claim.preview.broker_symbol_id)
        try:
            return adapter.modify_order(order.account_id, order.brokerage_order_id or "", to_place,
                                        order.client_order_ref or ""), None
        except TradeError as exc:
            return None, exc
        except Exception as exc:
            log.exception("unexpected error from %s modify_order; the outcome is unknown", adapter.provider)
            return None, OrderOutcomeUnknown(f"unexpected error while modifying: {type(exc).__name__}")

    def _record(self, claim: Claim, correlation: uuid.UUID, outcome: BrokerOrder | None,
                error: TradeError | None) -> ModificationView:
        status = ModificationStatus.APPLIED if outcome is not None else OUTCOMES[status_for_error(error or NothingSent(
            "no answer and no error"))]
        with transaction(self.store.session_factory) as session:
            row = sql.settle(session, claim.modification.id, status, broker_response=outcome.raw if outcome else {},
                             error_code=error.code.value if error else None,
                             error_message=error.message[:2000] if error else None)
            order = self.store.get_order(session, claim.order.id, lock=True)
            if order is None:
                raise TradeError(ErrorCode.INTERNAL_ERROR, "the order row is gone; the modification was sent",
                                 {"modification_id": str(claim.modification.id)})
            if row is None:  # a broker report settled it first (modification_settle): say what it says
                settled = session.get(TradeModification, claim.modification.id)
                if settled is not None:
                    return ModificationView.of(settled, order, claim.preview, with_order=True)
                raise TradeError(ErrorCode.INTERNAL_ERROR, "the modification row is gone after it was sent",
                                 {"modification_id": str(claim.modification.id)})
            changes = _apply(order, claim.request, outcome) if outcome is not None else None
            session.add(self._event(EVENTS[status], row, claim.preview.id, correlation, error=error,
                                    payload={"changes": changes or {}, "new": row.new_terms,
                                             "broker": outcome.raw if outcome else None}))
            session.flush()
            view = ModificationView.of(row, order, claim.preview, with_order=True)
        if error is not None and status is not ModificationStatus.UNKNOWN:
            raise TradeError(error.code, error.message, {**error.details, "modification_id": view.modification_id,
                                                         "order_id": view.order_id, "status": status.value})
        return view

    # --- audit -------------------------------------------------------------------------------------
    def _event(self, event_type: str, row: TradeModification, preview_id: uuid.UUID, correlation: uuid.UUID,
               *, error: TradeError | None = None, payload: dict[str, Any]) -> Any:
        return new_event(event_type, correlation_id=correlation, preview_id=preview_id, order_id=row.order_id,
                         account_id=row.account_id, provider=row.broker_provider, status=row.status.value,
                         error=error, payload={"modification_id": str(row.id), **payload})

    def _audit(self, order_id: uuid.UUID | None, modification_id: uuid.UUID | None, correlation: uuid.UUID,
               event_type: str, error: TradeError, *, stage: str) -> None:
        order = order_id or _uuid(error.details.get("order_id"))
        self.store.audit(new_event(event_type, correlation_id=correlation, order_id=order, error=error,
                                   payload={"error": error.to_dict(), "stage": stage,
                                            "modification_id": str(modification_id) if modification_id else None}))

    def record_not_confirmed(self, modification_id: uuid.UUID, answer: str) -> None:
        """The human said no or closed the prompt: nothing sent; the modification stays usable until it expires."""
        with self.store.session_factory() as session:
            row = session.get(TradeModification, modification_id)
        self.store.audit(new_event(
            "MODIFICATION_DECLINED" if answer == "declined" else "MODIFICATION_DISMISSED",
            correlation_id=uuid.uuid4(), order_id=row.order_id if row else None,
            message=f"the human {answer} the modification prompt",
            payload={"modification_id": str(modification_id), "answer": answer}))

    def record_refusal(self, modification_id: uuid.UUID, error: TradeError) -> None:
        with self.store.session_factory() as session:
            row = session.get(TradeModification, modification_id)
        self._audit(row.order_id if row else None, modification_id, uuid.uuid4(), "MODIFICATION_REFUSED", error,
                    stage="confirmation")


def _refuse_not_working(order: TradeOrder) -> None:
    status = OrderStatus(order.status)
    if status not in ACTIVE_STATUSES or not order.brokerage_order_id:
        why = "not acknowledged by the broker yet" if status in ACTIVE_STATUSES else status.value
        raise _refusal(ErrorCode.ORDER_NOT_MODIFIABLE, f"the order is {why}; only working orders (PENDING, "
                       "ACCEPTED, PARTIAL) can be modified", order.id, status=status.value)


def _refuse_in_flight(session: Session, row: TradeModification) -> None:
    other = sql.in_flight(session, row.order_id, row.id)
    if other is not None:
        raise _refusal(ErrorCode.ORDER_NOT_MODIFIABLE, f"modification {other.id} of this order was sent and the "
                       "broker has not confirmed it; check get_order_status before changing the order again",
                       row.order_id, in_flight=str(other.id))


def _refuse_filled(order: TradeOrder, quantity: Decimal) -> None:
    if quantity <= order.filled_quantity:
        raise _refusal(ErrorCode.VALIDATION_ERROR, f"quantity {quantity.normalize():f} is not more than the "
                       f"{order.filled_quantity.normalize():f} already filled; to stop the rest, cancel the order",
                       order.id, problems=[{"field": "quantity", "problem": "not more than the filled quantity"}])


def _refuse_stale(row: TradeModification, order: TradeOrder, preview: TradePreview) -> OrderRequest:
    """The order as the human saw it must still be the order: returns the new terms as an order."""
    current = current_request(order, preview)
    if terms_of(current) != row.old_terms:
        raise _refusal(ErrorCode.ORDER_NOT_MODIFIABLE, "the order's terms changed after this modification was "
                       "previewed; preview the change again", order.id, modification_id=str(row.id))
    _refuse_filled(order, row.new_quantity)
    return with_terms(current, row.new_terms)


def _apply(order: TradeOrder, request: OrderRequest, outcome: BrokerOrder) -> dict[str, Any]:
    """The broker confirmed: the order row takes the new terms, then the broker's report."""
    terms = terms_of(request)
    write_terms(order, terms)
    changes = apply_broker_order(order, outcome) or {}
    remaining = outcome.remaining_quantity
    order.remaining_quantity = remaining if remaining is not None else request.quantity - order.filled_quantity
    return {**changes, "terms": terms}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
