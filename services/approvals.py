"""Orders awaiting the human's decision on the /ui page (EXECUTE_CONFIRMATION=browser).

The model may only *ask* for an order (`request`); the order is placed when the operator
confirms on the page, through the same exactly-once `execute_trade` path as every other
order. Approvals live in PostgreSQL so every process agrees on what is pending, and a row
lock on the approval makes the decision happen once even when two tabs confirm together.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from brokers.errors import ErrorCode, TradeError
from db.engine import transaction
from db.models import TradeApproval, TradeOrder, TradePreview
from services.order_store import new_event, utcnow
from services.results import OrderView, PreviewView, View
from services.trade_execution import TradeExecutionService

PENDING, CONFIRMED, DECLINED, EXPIRED = "PENDING", "CONFIRMED", "DECLINED", "EXPIRED"
log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def structured(method: Callable[P, R]) -> Callable[P, R]:
    """Only TradeErrors leave the desk: a database outage is DATABASE_UNAVAILABLE, anything else INTERNAL_ERROR."""
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except TradeError:
            raise
        except OperationalError:
            log.exception("database unavailable")
            raise TradeError(ErrorCode.DATABASE_UNAVAILABLE,
                             "the database is not reachable; look at the order list before trying again") from None
        except Exception:
            log.exception("unexpected error in %s", method.__name__)
            raise TradeError(ErrorCode.INTERNAL_ERROR, "unexpected internal error; see the service log") from None

    return call


class ApprovalView(View):
    """One approval with everything the operator needs to decide, and the order once there is one."""

    approval_id: str
    status: str
    is_paper: bool
    account_label: str | None
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    outcome_code: str | None
    outcome_message: str | None
    seconds_left: int
    preview: PreviewView
    order: OrderView | None

    @classmethod
    def of(cls, row: TradeApproval, preview: TradePreview, order: TradeOrder | None) -> ApprovalView:
        left = int((row.expires_at - utcnow()).total_seconds()) if row.status == PENDING else 0
        return cls(
            approval_id=str(row.id), status=row.status, is_paper=row.is_paper, account_label=row.account_label,
            requested_at=row.requested_at, expires_at=row.expires_at, decided_at=row.decided_at,
            outcome_code=row.outcome_code, outcome_message=row.outcome_message, seconds_left=max(left, 0),
            preview=PreviewView.of(preview), order=OrderView.of(order, preview) if order is not None else None,
        )


def parse_approval_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise TradeError(ErrorCode.PREVIEW_NOT_FOUND, "no such approval", {"approval_id": str(value)[:80]}) from None


class ApprovalDesk:
    """Record, list and decide approvals; the only door to trade_approvals."""

    def __init__(self, service: TradeExecutionService) -> None:
        self.service = service
        self.store = service.store

    # --- asked by the model (MCP execute_trade) ---------------------------------------------
    @structured
    def request(self, preview_id: uuid.UUID) -> ApprovalView:
        """The approval for this preview, recording a new PENDING one if none exists yet.

        Refusals that need no human (unknown, used or expired preview, trading off, a live
        account in paper mode) are decided here, before the human is asked, and audited.
        """
        correlation = uuid.uuid4()
        existing = self.for_preview(preview_id)
        if existing is not None:
            return existing
        try:
            preview = self.service.executable_preview(preview_id).preview
            is_paper, label = self._account_facts(preview)
        except TradeError as exc:
            self.store.audit(new_event("APPROVAL_REFUSED", correlation_id=correlation, preview_id=preview_id,
                                       error=exc, payload={"error": exc.to_dict()}))
            raise
        with transaction(self.store.session_factory) as session:
            inserted = session.execute(
                insert(TradeApproval).values(
                    id=uuid.uuid4(), preview_id=preview_id, status=PENDING, account_id=preview.account_id,
                    broker_provider=preview.broker_provider, is_paper=is_paper, account_label=label,
                    requested_at=utcnow(), expires_at=preview.expires_at,
                ).on_conflict_do_nothing(index_elements=["preview_id"]).returning(TradeApproval.id)
            ).scalar_one_or_none()
            if inserted is not None:
                session.add(new_event(
                    "APPROVAL_REQUESTED", correlation_id=correlation, preview_id=preview_id,
                    account_id=preview.account_id, provider=preview.broker_provider, status=PENDING,
                    payload={"approval_id": str(inserted)},
                ))
        found = self.for_preview(preview_id)
        if found is None:
            raise TradeError(ErrorCode.INTERNAL_ERROR, "the approval could not be recorded")
        return found

    def _account_facts(self, preview: PreviewView) -> tuple[bool, str | None]:
        """Paper or live, and a readable name, asked once so the page never waits on a broker."""
        adapter = self.service.router.for_provider(preview.broker_provider)
        for account in adapter.list_accounts():
            if account.account_id == preview.account_id:
                parts = [p for p in (account.institution, account.name, account.number) if p]
                return account.is_paper, " / ".join(parts)[:200] or None
        raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, "the preview's account is no longer listed by the broker",
                         {"account_id": preview.account_id})

    # --- reads for the page and the tool -----------------------------------------------------
    def for_preview(self, preview_id: uuid.UUID) -> ApprovalView | None:
        with self.store.session_factory() as session:
            row = session.execute(
                select(TradeApproval).where(TradeApproval.preview_id == preview_id)
            ).scalar_one_or_none()
            return self._view(session, row) if row is not None else None

    @structured
    def get(self, approval_id: Any) -> ApprovalView:
        key = parse_approval_id(approval_id)
        with self.store.session_factory() as session:
            row = session.get(TradeApproval, key)
            view = self._view(session, row) if row is not None else None
        if view is None:
            raise TradeError(ErrorCode.PREVIEW_NOT_FOUND, "no such approval", {"approval_id": str(key)})
        return view

    @structured
    def pending(self) -> list[ApprovalView]:
        """Approvals awaiting a decision, oldest first; those past their time are marked EXPIRED on the way."""
        self._expire_overdue()
        return self._listed(select(TradeApproval).where(TradeApproval.status == PENDING)
                            .order_by(TradeApproval.requested_at).limit(100))

    @structured
    def decided(self, limit: int = 20) -> list[ApprovalView]:
        return self._listed(select(TradeApproval).where(TradeApproval.status != PENDING)
                            .order_by(TradeApproval.decided_at.desc().nulls_last()).limit(limit))

    @structured
    def recent_orders(self, days: int = 7, limit: int = 25) -> list[OrderView]:
        """This module's orders of every account, newest first, from the database only (the page polls this)."""
        stmt = (
            select(TradeOrder, TradePreview).join(TradePreview, TradePreview.id == TradeOrder.preview_id)
            .where(TradeOrder.created_at >= utcnow() - timedelta(days=days))
            .order_by(TradeOrder.created_at.desc()).limit(limit)
        )
        with self.store.session_factory() as session:
            return [OrderView.of(order, preview) for order, preview in session.execute(stmt).all()]

    def _listed(self, stmt: Any) -> list[ApprovalView]:
        with self.store.session_factory() as session:
            views = (self._view(session, row) for row in session.execute(stmt).scalars())
            return [v for v in views if v is not None]

    def _view(self, session: Session, row: TradeApproval) -> ApprovalView | None:
        preview = session.get(TradePreview, row.preview_id)
        if preview is None:
            return None
        return ApprovalView.of(row, preview, self.store.order_for_preview(session, row.preview_id))

    def _expire_overdue(self) -> None:
        with transaction(self.store.session_factory) as session:
            rows = session.execute(
                select(TradeApproval).where(TradeApproval.status == PENDING, TradeApproval.expires_at <= utcnow())
                .with_for_update(skip_locked=True)
            ).scalars()
            for row in rows:
                row.status = EXPIRED
                session.add(new_event("APPROVAL_EXPIRED", correlation_id=uuid.uuid4(), preview_id=row.preview_id,
                                      account_id=row.account_id, provider=row.broker_provider,
                                      payload={"approval_id": str(row.id)}))

    # --- decided by the operator on the page ---------------------------------------------------
    @structured
    def confirm(self, approval_id: Any, operator_session: str) -> ApprovalView:
        """Mark the approval CONFIRMED (once), then place the order through the exactly-once execute path."""
        key = parse_approval_id(approval_id)
        self._refuse_while_trading_is_off(key, operator_session)
        preview_id = self._decide(key, CONFIRMED, operator_session)
        try:
            self.service.execute_trade(preview_id)
        except TradeError as exc:
            with transaction(self.store.session_factory) as session:
                row = session.get(TradeApproval, key, with_for_update=True)
                if row is not None:
                    row.outcome_code = exc.code.value
                    row.outcome_message = exc.message[:2000]
        return self.get(key)

    def _refuse_while_trading_is_off(self, key: uuid.UUID, operator_session: str) -> None:
        """Kill switch on: refuse before the decision, so the approval stays PENDING for when trading resumes."""
        reason = self.service.settings.trading_block_reason()
        if reason is None:
            return
        error = TradeError(ErrorCode.TRADING_DISABLED, reason, {"approval_id": str(key)})
        self.store.audit(new_event("APPROVAL_CONFIRMED_REFUSED", correlation_id=uuid.uuid4(), error=error,
                                   payload={"approval_id": str(key), "operator_session": operator_session}))
        raise error

    @structured
    def decline(self, approval_id: Any, operator_session: str) -> ApprovalView:
        """The human said no: nothing is placed, and the model cannot re-ask for this preview."""
        key = parse_approval_id(approval_id)
        self._decide(key, DECLINED, operator_session)
        return self.get(key)

    def _decide(self, key: uuid.UUID, decision: str, operator_session: str) -> uuid.UUID:
        """Move PENDING to `decision` under a row lock; any other state is a refusal, audited."""
        correlation = uuid.uuid4()
        refusal: TradeError | None = None
        with transaction(self.store.session_factory) as session:
            row = session.get(TradeApproval, key, with_for_update=True)
            if row is None:
                raise TradeError(ErrorCode.PREVIEW_NOT_FOUND, "no such approval", {"approval_id": str(key)})
            event = f"APPROVAL_{decision}"
            if row.status == PENDING and row.expires_at <= utcnow():
                row.status = EXPIRED
            if row.status != PENDING:
                refusal = _already_decided(row)
                event = f"APPROVAL_{decision}_REFUSED"
            else:
                row.status, row.decided_at, row.decided_by = decision, utcnow(), operator_session
            session.add(new_event(
                event, correlation_id=correlation, preview_id=row.preview_id, account_id=row.account_id,
                provider=row.broker_provider, status=row.status, error=refusal,
                payload={"approval_id": str(key), "operator_session": operator_session},
            ))
            preview_id = row.preview_id
        if refusal is not None:
            raise refusal
        return preview_id

    @structured
    def repreview(self, approval_id: Any, operator_session: str) -> ApprovalView:
        """After expiry: a fresh preview of the same terms, awaiting the operator's decision like any other."""
        old = self.get(approval_id)
        if old.status != EXPIRED:
            raise TradeError(ErrorCode.VALIDATION_ERROR, "only an expired approval can be previewed again",
                             {"approval_id": old.approval_id, "status": old.status})
        p = old.preview
        fresh = self.service.preview_trade(
            account_id=p.account_id, ticker=p.ticker, side=p.side, quantity=p.quantity, order_type=p.order_type,
            limit_price=p.limit_price, stop_price=p.stop_price, time_in_force=p.time_in_force, **p.order_options,
        )
        view = self.request(uuid.UUID(fresh.preview_id))
        self.store.audit(new_event("APPROVAL_REPREVIEWED", correlation_id=uuid.uuid4(),
                                   preview_id=uuid.UUID(fresh.preview_id), account_id=p.account_id,
                                   payload={"operator_session": operator_session,
                                            "expired_approval_id": old.approval_id}))
        return view

    def record_page_refusal(self, reason: str, *, path: str, status: int, operator_session: str | None,
                            client: str | None) -> None:
        """A state-changing request stopped at the page's door (no session, bad CSRF, foreign origin or host)."""
        self.store.audit(new_event("UI_REQUEST_REFUSED", correlation_id=uuid.uuid4(), message=reason[:500],
                                   payload={"path": path[:200], "http_status": status,
                                            "operator_session": operator_session, "client": client}))

    def record_login(self, operator_session: str | None, *, accepted: bool, client: str | None) -> None:
        event = "OPERATOR_LOGIN" if accepted else "OPERATOR_LOGIN_REFUSED"
        self.store.audit(new_event(event, correlation_id=uuid.uuid4(),
                                   payload={"operator_session": operator_session, "client": client}))

    @structured
    def halt_trading(self, operator_session: str) -> str:
        """The page's kill switch: it can only stop trading (creates TRADING_KILL_SWITCH_FILE), never resume."""
        path = self.service.settings.trading_kill_switch_file
        correlation = uuid.uuid4()
        if path is None:
            error = TradeError(ErrorCode.VALIDATION_ERROR,
                               "TRADING_KILL_SWITCH_FILE is not set, so the page cannot stop trading; "
                               "set TRADING_KILL_SWITCH=true and restart instead")
            self.store.audit(new_event("TRADING_HALT_REFUSED", correlation_id=correlation, error=error,
                                       payload={"operator_session": operator_session}))
            raise error
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"trading stopped from the /ui page at {utcnow():%Y-%m-%dT%H:%M:%SZ} "
                        f"by operator session {operator_session}\n", encoding="utf-8")
        self.store.audit(new_event("TRADING_HALTED", correlation_id=correlation,
                                   message="kill switch turned on from the /ui page",
                                   payload={"operator_session": operator_session, "file": str(path)}))
        return f"Trading is OFF: {path} now exists. Remove that file on the server to resume."


def _already_decided(row: TradeApproval) -> TradeError:
    details = {"approval_id": str(row.id), "preview_id": str(row.preview_id), "status": row.status}
    if row.status == CONFIRMED:
        return TradeError(ErrorCode.ALREADY_EXECUTED, "this order was already confirmed; it is placed once", details)
    if row.status == EXPIRED:
        return TradeError(ErrorCode.PREVIEW_EXPIRED, "this preview expired before it was confirmed; "
                          "nothing was placed. Preview the trade again.", details)
    return TradeError(ErrorCode.VALIDATION_ERROR, "this order was already declined; nothing was placed", details)
