"""What a human may be asked to confirm, and the audit of what came of asking.

Every refusal that needs no human (kill switch, paper mode and a live account, an unknown,
used or expired preview) is decided here before anyone is asked: a person must never say yes
to an order that is then refused. Read-only; the execute path re-checks everything under its
row lock, so nothing decided here can let an order through on its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from brokers.base import BrokerAdapter
from brokers.errors import ErrorCode, TradeError
from services.execution_gate import ExecutionGate, order_exists_error
from services.order_store import OrderStore, new_event, utcnow
from services.results import PreviewView
from settings import Settings, TradingMode

Answer = Literal["declined", "dismissed"]


@dataclass(frozen=True)
class ExecutablePreview:
    """A preview execute_trade would act on right now."""

    preview: PreviewView
    simulated: bool
    """ORDERS_ENABLED is off: executing records a SIMULATED order and sends nothing, so nobody need be asked."""


def executable_preview(gate: ExecutionGate, store: OrderStore, preview_id: uuid.UUID) -> ExecutablePreview:
    """The preview if executing it now would go ahead; otherwise the TradeError execute would refuse with."""
    gate._check_trading_allowed(preview_id)  # kill switch, live rules, paper mode with a non-paper account
    with store.session_factory() as session:
        row = store.get_preview(session, preview_id)
        if row is None:
            raise TradeError(ErrorCode.PREVIEW_NOT_FOUND, "no such preview", {"preview_id": str(preview_id)})
        order = store.order_for_preview(session, preview_id)
        if order is not None or row.status in ("EXECUTED", "SIMULATED"):
            raise order_exists_error(preview_id, order.id if order is not None else None,
                                     order.status if order is not None else row.status)
        if row.status != "ACTIVE" or row.expires_at <= utcnow():
            raise TradeError(
                ErrorCode.PREVIEW_EXPIRED, "the preview has expired; preview the trade again and ask the human again",
                {"preview_id": str(preview_id), "expired_at": row.expires_at.isoformat()},
            )
        return ExecutablePreview(PreviewView.of(row), simulated=not gate.settings.orders_enabled)


def record_refusal(store: OrderStore, preview_id: uuid.UUID, error: TradeError) -> None:
    """An execute refused before anything was locked or written (e.g. no way to ask the human)."""
    store.audit(new_event("EXECUTE_REFUSED", correlation_id=uuid.uuid4(), preview_id=preview_id, error=error,
                          payload={"error": error.to_dict()}))


def record_not_confirmed(store: OrderStore, preview_id: uuid.UUID, answer: Answer) -> None:
    """The human said no, or closed the prompt: nothing placed, the preview stays usable until it expires."""
    declined = answer == "declined"
    message = ("the human declined the confirmation prompt" if declined
               else "the human dismissed the confirmation prompt without answering")
    event = "EXECUTE_DECLINED" if declined else "EXECUTE_DISMISSED"
    store.audit(new_event(event, correlation_id=uuid.uuid4(), preview_id=preview_id, message=message,
                          payload={"answer": answer}))


def execution_warnings(settings: Settings, adapter: BrokerAdapter, account_id: str) -> list[str]:
    """What a preview must say when executing it would not place a real order, so nobody confirms in vain."""
    blocked = settings.trading_block_reason()
    if blocked:
        return [f"This preview cannot be executed now: {blocked}."]
    if not settings.orders_enabled:
        return ["ORDERS_ENABLED is off: executing this preview only records a SIMULATED order; nothing is sent to "
                "the broker."]
    if settings.trading_mode is TradingMode.PAPER and not adapter.is_paper_account(account_id):
        return [f"TRADING_MODE=paper and account {account_id} is not a paper account: this preview cannot be "
                "executed."]
    return []
