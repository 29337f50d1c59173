"""What a human may be asked to confirm, and the audit of what came of asking.

Every refusal that needs no human (kill switch, paper mode and a live account, an unknown,
used or expired preview, another mode, no adapter) is decided before anyone is asked, by
`ExecutePath.executable` with the same rules the execute path applies: a person must never say
yes to an order that is then refused. The execute path re-checks everything in its intent
transaction, so nothing decided before can let an order through on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from brokers.base import BrokerAdapter
from brokers.errors import TradeError
from brokers.user_context import belongs_to_another
from db.models import PreviewStatus
from services.order_store import OrderStore, new_event, utcnow
from services.results import PreviewView
from settings import Settings, TradingMode

Answer = Literal["declined", "dismissed"]
LegState = Literal["executable", "expired", "used", "unknown"]


@dataclass(frozen=True)
class ExecutablePreview:
    """A preview execute_trade would act on right now."""

    preview: PreviewView
    simulated: bool
    """ORDERS_ENABLED is off: executing records a SIMULATED order and sends nothing, so nobody need be asked."""


@dataclass(frozen=True)
class BasketLeg:
    """One leg of a basket as a confirmation prompt shows it: what it is, and whether it would be placed."""

    preview_id: uuid.UUID
    state: LegState
    preview: PreviewView | None = None
    """None only for an unknown preview."""
    status: str | None = None
    """The preview's status when it was already used (EXECUTED, ...)."""


def basket_legs(store: OrderStore, preview_ids: Sequence[uuid.UUID], user: str | None = None) -> list[BasketLeg]:
    """Read-only: each leg's preview and its state, in the order given (expired legs are re-quoted, not placed)."""
    legs: list[BasketLeg] = []
    with store.session_factory() as session:
        for preview_id in preview_ids:
            row = store.get_preview(session, preview_id)
            if row is None or belongs_to_another(row.user_email, user):
                legs.append(BasketLeg(preview_id, "unknown"))
                continue
            view = PreviewView.of(row)
            if row.status != PreviewStatus.ACTIVE or store.order_for_preview(session, row.id) is not None:
                legs.append(BasketLeg(preview_id, "used", view, str(row.status)))
            elif row.expires_at <= utcnow():
                legs.append(BasketLeg(preview_id, "expired", view))
            else:
                legs.append(BasketLeg(preview_id, "executable", view))
    return legs


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
    try:
        blocked = settings.trading_block_reason()
    except Exception as exc:  # the execute refuses then too (fail closed): say so, do not fail the preview
        blocked = f"the kill-switch check failed ({type(exc).__name__})"
    if blocked:
        return [f"This preview cannot be executed now: {blocked}."]
    if not settings.orders_enabled:
        return ["ORDERS_ENABLED is off: executing this preview only records a SIMULATED order; nothing is sent to "
                "the broker."]
    if settings.trading_mode is TradingMode.PAPER and not adapter.is_paper_account(account_id):
        return [f"TRADING_MODE=paper and account {account_id} is not a paper account: this preview cannot be "
                "executed."]
    return []
