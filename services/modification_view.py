"""What preview_modification and execute_modification return: old and new terms side by side."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db.models import ModificationStatus, TradeModification, TradeOrder, TradePreview
from services.modification_terms import changes_between, describe_changes
from services.order_terms import CurrentTerms, current_terms
from services.results import OrderView, PlainDecimal, View, plain_json_number

MESSAGES = {
    ModificationStatus.ACTIVE: "Nothing has changed yet. Show the summary to the human; call execute_modification "
                               "with this modification_id only after they confirm this exact change.",
    ModificationStatus.SENDING: "The change is being sent to the broker (or the process stopped while sending it): "
                                "it may have been applied. Check get_order_status; do not execute it again.",
    ModificationStatus.APPLIED: "The broker confirmed the change: the order now has the new terms.",
    ModificationStatus.UNKNOWN: "The broker did not confirm in time: the change MAY have been applied. Check "
                                "get_order_status; do not execute it again.",
    ModificationStatus.SIMULATED: "SIMULATED: ORDERS_ENABLED is false, so the change was recorded but NOT sent to "
                                  "the broker; the order keeps its terms.",
    ModificationStatus.EXPIRED: "The modification preview expired; nothing was changed.",
}


class ModificationView(View):
    modification_id: str
    order_id: str
    preview_id: str | None
    account_id: str
    broker_provider: str
    status: str
    ticker: str | None = None
    side: str | None = None
    order_type: str | None = None
    time_in_force: str | None = None
    old_terms: dict[str, Any]
    new_terms: dict[str, Any]
    changes: list[dict[str, Any]]
    summary: str
    estimated_total: PlainDecimal | None = None
    warnings: list[str] = []
    simulated: bool = False
    created_at: datetime
    expires_at: datetime
    error_code: str | None = None
    error_message: str | None = None
    message: str | None = None
    order: OrderView | None = None

    @classmethod
    def of(cls, row: TradeModification, order: TradeOrder, preview: TradePreview | None, *,
           with_order: bool = False) -> ModificationView:
        """`with_order`: include the order as it stands (after an execute)."""
        changes = changes_between(row.old_terms, row.new_terms)
        terms = current_terms(order, preview)  # a bracket leg's own side and type
        simulated = row.status is ModificationStatus.SIMULATED or (
            row.status is ModificationStatus.ACTIVE and not row.orders_enabled)
        return cls(
            modification_id=str(row.id), order_id=str(row.order_id), preview_id=str(preview.id) if preview else None,
            account_id=row.account_id, broker_provider=row.broker_provider, status=row.status.value,
            ticker=preview.ticker if preview else None, side=terms.side, order_type=terms.order_type,
            time_in_force=preview.time_in_force if preview else None,
            old_terms=row.old_terms, new_terms=row.new_terms, changes=changes,
            summary=summary(row, terms, preview, changes), estimated_total=row.estimated_total,
            warnings=list((row.impact or {}).get("warnings", [])), simulated=simulated,
            created_at=row.created_at, expires_at=row.expires_at, error_code=row.error_code,
            error_message=row.error_message, message=MESSAGES.get(row.status, row.error_message),
            order=OrderView.of(order, preview) if with_order else None,
        )


def summary(row: TradeModification, terms: CurrentTerms, preview: TradePreview | None,
            changes: list[dict[str, Any]]) -> str:
    """The one line a human confirms: which order, and each term's old and new value."""
    what = (f"{terms.side} {preview.ticker} {terms.order_type} {preview.time_in_force}" if preview
            else "order")
    total = "" if row.estimated_total is None else (
        f"; est. {'cost' if terms.side != 'SELL' else 'proceeds'} of the unfilled part "
        f"{plain_json_number(row.estimated_total)}")
    simulated = "" if row.orders_enabled else (
        " [SIMULATED ONLY: orders are off; executing records the change and sends nothing to the broker]")
    return (f"Modify {what} (order {row.order_id}) in {row.broker_provider} account {row.account_id}: "
            f"{describe_changes(changes)}{total}{simulated}")
