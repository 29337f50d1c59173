"""Execute exactly once, in two transactions: the intent before the broker call, the outcome after it.

1. Intent (one commit): the preview is consumed by a conditional UPDATE, the order row
   (SUBMITTING) and its events are inserted, the refusal rules and the per-account
   holdings check run; any refusal rolls it all back, so a refused preview stays usable.
2. The broker is called once, outside any transaction; nothing here retries a placement.
3. Outcome (one commit): the order row is updated from the answer, or from the outcome's
   type (refused: REJECTED, nothing sent: FAILED, may exist: UNKNOWN), plus its event.

UNIQUE(trade_orders.preview_id) backs the conditional UPDATE up across processes.
Refusals are written in one short transaction of their own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from brokers.base import BrokerAdapter
from brokers.bracket_rules import LegRole
from brokers.errors import BrokerRefused, ErrorCode, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.models import OrderRequest, OrderStatus
from brokers.records import BrokerOrder, OrderToPlace
from brokers.user_context import acting_for
from db import direct
from db.engine import transaction
from db.models import PreviewStatus, TradeOrder, TradePreview, row_object
from services import execute_sql as sql
from services.confirmation import ExecutablePreview
from services.execution_gate import (
    ExecutionGate,
    not_active_refusal,
    order_exists_error,
    request_of,
)
from services.order_store import OrderStore, new_event, utcnow
from services.order_updates import apply_broker_order
from services.preview_flights import Flight, PreviewFlights
from services.refusal_writer import RefusalWriter
from services.results import OrderView, PreviewView
from services.set_legs import insert_children
from settings import Settings

log = logging.getLogger(__name__)
Checkpoint = Callable[[str], None]
FOLLOWER_WAIT_SECONDS = 60.0
"""How long a concurrent execute of the same preview waits for the first one's intent before trying itself."""
OUTCOME_EVENTS = {OrderStatus.REJECTED: "ORDER_REJECTED", OrderStatus.FAILED: "ORDER_FAILED"}


@dataclass(frozen=True)
class Intent:
    preview: TradePreview
    order: TradeOrder
    request: OrderRequest
    adapter: BrokerAdapter
    legs: tuple[TradeOrder, ...] = ()
    """A bracket's child legs (their rows committed with the entry's); empty for a single order."""


class _NotConsumed(Exception):
    """The conditional UPDATE found no ACTIVE, unexpired preview: the refusal says why."""


@dataclass
class _Progress:
    committing: bool = False


class ExecutePath:
    def __init__(
        self, settings: Settings, engine: Engine, store: OrderStore, gate: ExecutionGate, checkpoint: Checkpoint
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.gate = gate
        self.checkpoint = checkpoint
        self.flights = PreviewFlights(wait_seconds=FOLLOWER_WAIT_SECONDS)
        self.refusals = RefusalWriter(engine)

    # --- before a human is asked -------------------------------------------------------------
    def executable(self, preview_id: uuid.UUID) -> ExecutablePreview:
        """What a confirmation must show, or the refusal that needs no human (the caller records it)."""
        self.gate.refuse_if_blocked(preview_id)
        table = TradePreview.__table__
        with self.engine.connect() as conn:
            found = conn.execute(select(table).where(table.c.id == preview_id)).mappings().first()
            facts = sql.why_not_active(conn, preview_id) if found is not None else None
        preview = TradePreview(**found) if found is not None else None
        if preview is None or facts is None or preview.status != PreviewStatus.ACTIVE or facts[1] or facts[2]:
            status, expired, order_id, order_status = facts or (None, False, None, None)
            raise not_active_refusal(preview_id, status, expired, order_id, order_status)
        with acting_for(preview.user_email):  # the broker is asked as the user who made the preview
            self.gate.check_preview(preview)
        return ExecutablePreview(PreviewView.of(preview), simulated=not self.settings.orders_enabled)

    # --- execute -----------------------------------------------------------------------------
    def execute(self, preview_id: uuid.UUID, correlation: uuid.UUID) -> tuple[Intent, OrderView | None]:
        """Commit the intent. Returns the intent, and the order's view when it was only simulated."""
        try:
            self.gate.refuse_if_blocked(preview_id)
        except TradeError as exc:
            self.audit_refusal(preview_id, correlation, exc, stage="execute")
            raise
        with self.flights.join(preview_id) as flight:
            if flight.answer is not None:  # a concurrent execute of this preview settled it: refused the same way
                raise self._refuse_follower(preview_id, correlation, flight.answer)
            intent = self._lead(preview_id, correlation, flight)
        if intent.order.status is OrderStatus.SIMULATED:
            self.checkpoint("after_intent_commit")
            return intent, OrderView.of(intent.order, intent.preview)
        return intent, None

    def _lead(self, preview_id: uuid.UUID, correlation: uuid.UUID, flight: Flight) -> Intent:
        """The intent; concurrent executes of the preview in this process are told its outcome when it is final."""
        try:
            intent = self._commit_intent(preview_id, correlation)
        except _NotConsumed:
            error = self._refuse_unconsumed(preview_id, correlation)
            flight.settle(error)
            raise error from None
        except TradeError as exc:
            if exc.code is ErrorCode.ALREADY_EXECUTED:
                flight.settle(exc)
            self.audit_refusal(preview_id, correlation, exc, stage="execute")
            raise
        flight.settle(order_exists_error(preview_id, intent.order.id, OrderStatus(intent.order.status).value))
        return intent

    def _refuse_follower(self, preview_id: uuid.UUID, correlation: uuid.UUID, answer: TradeError) -> TradeError:
        error = TradeError(answer.code, answer.message, dict(answer.details))
        self.refusals.write(sql.event_params("EXECUTE_REFUSED", correlation, preview_id=preview_id, error=error,
                                             payload={"error": error.to_dict()}))
        return error

    def _commit_intent(self, preview_id: uuid.UUID, correlation: uuid.UUID) -> Intent:
        """One retry, only when a pooled connection turned out dead before anything could have committed."""
        for attempt in (1, 2):
            progress = _Progress()
            try:
                return self._intent_transaction(preview_id, correlation, progress)
            except DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated and not progress.committing:
                    log.warning("a pooled database connection was dead; retrying the intent on a new one")
                    continue
                if isinstance(exc, IntegrityError):
                    raise order_exists_error(preview_id, None, None) from None
                log.exception("database failure while recording the intent")
                raise TradeError(
                    ErrorCode.DATABASE_UNAVAILABLE,
                    "the database failed while recording the order intent; nothing was sent to the broker",
                    {"preview_id": str(preview_id)},
                ) from None
        raise TradeError(ErrorCode.DATABASE_UNAVAILABLE, "the database is not reachable; nothing was sent")

    def _intent_transaction(self, preview_id: uuid.UUID, correlation: uuid.UUID, progress: _Progress) -> Intent:
        row = sql.IntentRow(uuid.uuid4(), str(uuid.uuid4()), self.settings.orders_enabled, utcnow())
        with direct.transaction(self.engine) as tx:
            preview = sql.consume_preview(tx, preview_id, correlation, row)
            if preview is None:
                raise _NotConsumed
            with acting_for(preview.user_email):
                adapter = self.gate.check_preview(preview)
                if row.sent:
                    self.gate.check_holdings(tx, preview, adapter)
            values = {
                "id": row.order_id, "preview_id": preview.id, "account_id": preview.account_id,
                "broker_provider": preview.broker_provider, "client_order_ref": row.client_order_ref,
                "status": OrderStatus.SUBMITTING if row.sent else OrderStatus.SIMULATED, "brokerage_order_id": None,
                "filled_quantity": Decimal(0), "remaining_quantity": preview.quantity, "brokerage_response": {},
                "created_at": row.now, "submitted_at": row.now if row.sent else None, "updated_at": row.now,
                "user_email": preview.user_email,
            }
            request = request_of(preview)
            legs = insert_children(tx, values, preview, request, correlation)  # a bracket's legs: the same intent
            self.checkpoint("before_intent_commit")
            progress.committing = True
        order = row_object(TradeOrder, {**values, "average_fill_price": None, "commission": None, "error_code": None,
                                        "error_message": None, "leg_role": LegRole.ENTRY.value if legs else None})
        return Intent(preview=preview, order=order, request=request, adapter=adapter, legs=tuple(legs))

    def _refuse_unconsumed(self, preview_id: uuid.UUID, correlation: uuid.UUID) -> TradeError:
        """Explain, expire if due, and audit in one short transaction."""
        with self.engine.begin() as conn:
            facts = sql.why_not_active(conn, preview_id)
            if facts is None:
                error = not_active_refusal(preview_id, None, False, None, None)
            else:
                status, expired, order_id, order_status = facts
                error = not_active_refusal(preview_id, status, expired, order_id, order_status)
                expiring = sql.expire_preview(conn, preview_id) if status == PreviewStatus.ACTIVE else None
                if expiring is not None:
                    sql.insert_event(conn, "PREVIEW_EXPIRED", correlation, preview_id=preview_id,
                                     account_id=expiring[0], provider=expiring[1], payload={})
            sql.insert_event(conn, "EXECUTE_REFUSED", correlation, preview_id=preview_id, error=error,
                             payload={"error": error.to_dict()})
        return error

    def audit_refusal(self, preview_id: uuid.UUID | None, correlation: uuid.UUID, error: TradeError,
                      *, stage: str) -> None:
        """Every refusal is recorded, in its own short transaction; a failure to record it is logged."""
        try:
            with self.engine.begin() as conn:
                sql.insert_event(
                    conn, "EXECUTE_REFUSED", correlation, preview_id=preview_id, error=error,
                    account_id=error.details.get("account_id"), payload={"error": error.to_dict(), "stage": stage},
                )
        except Exception:
            log.exception("could not record the refusal of preview %s", preview_id)

    # --- the broker call and its outcome ---------------------------------------------------------
    def place(self, intent: Intent) -> tuple[BrokerOrder | None, TradeError | None]:
        """Call the broker once. Any error that is not one of the three outcome types may have placed it."""
        preview, adapter = intent.preview, intent.adapter
        to_place = OrderToPlace(
            request=intent.request, broker_symbol_id=preview.broker_symbol_id,
            broker_trade_id=preview.snaptrade_trade_id, preview_data=preview.broker_preview_data,
        )
        try:
            with acting_for(preview.user_email):  # placed with the credentials of the preview's user
                return adapter.place_order(preview.account_id, to_place, intent.order.client_order_ref or ""), None
        except TradeError as exc:
            if not isinstance(exc, (BrokerRefused, NothingSent, OrderOutcomeUnknown)):
                log.warning("%s place_order raised an unclassified %s; the order may exist",
                            adapter.provider.value, exc.code.value)
            return None, exc
        except Exception as exc:
            log.exception("unexpected error from %s place_order; treating the outcome as unknown", adapter.provider)
            return None, OrderOutcomeUnknown(f"unexpected error while placing: {type(exc).__name__}")

    def record_outcome(
        self, intent: Intent, correlation: uuid.UUID, outcome: BrokerOrder | None, error: TradeError | None
    ) -> OrderView:
        order = intent.order
        event, payload = outcome_of(order, outcome, error)
        self.checkpoint("before_outcome_commit")  # the statement and its COMMIT follow with nothing in between
        row = sql.record_outcome(self.engine, order, correlation, event, error, payload)
        if row is None:  # something else moved the row since the intent: fold the outcome into what it says now
            return self._record_locked(intent, correlation, outcome, error)
        return OrderView.of(row, intent.preview)

    def _record_locked(
        self, intent: Intent, correlation: uuid.UUID, outcome: BrokerOrder | None, error: TradeError | None
    ) -> OrderView:
        with transaction(self.store.session_factory) as session:
            row = self.store.get_order(session, intent.order.id, lock=True)
            if row is None:
                raise TradeError(ErrorCode.INTERNAL_ERROR, "the intent row disappeared after the broker call")
            event, payload = outcome_of(row, outcome, error)
            session.add(
                new_event(
                    event, correlation_id=correlation, preview_id=row.preview_id, order_id=row.id,
                    account_id=row.account_id, provider=row.broker_provider, status=row.status,
                    error=error, payload=payload,
                )
            )
            session.flush()
            self.checkpoint("before_outcome_commit")
            return OrderView.of(row, intent.preview)


def outcome_of(row: TradeOrder, outcome: BrokerOrder | None, error: TradeError | None) -> tuple[str, dict[str, Any]]:
    """Fold the broker's answer (or the error's outcome type) into the row; returns the event to record."""
    if outcome is not None:
        changes = apply_broker_order(row, outcome)
        return "ORDER_SUBMITTED", {"changes": changes or {}, "broker": outcome.raw}
    if error is None:
        raise TradeError(ErrorCode.INTERNAL_ERROR, "a placement with neither an answer nor an error")
    status = status_for_error(error)
    if row.status in (OrderStatus.SUBMITTING, OrderStatus.UNKNOWN):
        row.status = status
    row.error_code = error.code.value
    row.error_message = error.message[:2000]
    row.updated_at = utcnow()
    return OUTCOME_EVENTS.get(status, "ORDER_OUTCOME_UNKNOWN"), {"error": error.to_dict()}


def status_for_error(error: TradeError) -> OrderStatus:
    """The placement outcome by its type (see BrokerAdapter): anything unclassified may exist."""
    if isinstance(error, BrokerRefused):
        return OrderStatus.REJECTED
    if isinstance(error, NothingSent):
        return OrderStatus.FAILED
    return OrderStatus.UNKNOWN
