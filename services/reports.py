"""Aggregate results: a batch of executes, a reconciliation pass, the tradeable accounts.

Built from the per-order views in `services.results`; same JSON rules (plain decimals).
"""

from __future__ import annotations

from typing import Any, Literal

from brokers.records import BrokerAccount
from services.results import OrderView, View

BatchStatus = Literal["completed", "partial", "failed", "needs_confirmation"]
LegStatus = Literal["placed", "reprieved", "failed", "unknown"]


class BatchLeg(View):
    preview_id: str
    status: LegStatus
    result: OrderView | None = None
    error: dict[str, Any] | None = None
    new_preview_id: str | None = None


class BatchResult(View):
    """`completed`: every leg placed (or simulated); `failed`: none placed and none re-quoted;
    `needs_confirmation`: some legs expired and were re-quoted, no leg failed; `partial`: otherwise."""

    status: BatchStatus
    legs: list[BatchLeg]
    reprieved_legs: list[dict[str, Any]]
    message: str

    @classmethod
    def of(cls, legs: list[BatchLeg]) -> BatchResult:
        placed = sum(leg.status == "placed" for leg in legs)
        reprieved = [leg for leg in legs if leg.status == "reprieved"]
        troubled = sum(leg.status in ("failed", "unknown") for leg in legs)
        status: BatchStatus
        if placed == len(legs):
            status = "completed"
        elif reprieved and not troubled:
            status = "needs_confirmation"
        elif placed == 0 and not reprieved and not any(leg.status == "unknown" for leg in legs):
            status = "failed"
        else:
            status = "partial"
        message = f"{placed} of {len(legs)} legs placed"
        if reprieved:
            message += (f"; {len(reprieved)} expired and were re-quoted: the human must confirm each "
                        "new_preview_id before it is executed")
        return cls(
            status=status, legs=legs, message=message,
            reprieved_legs=[{"preview_id": leg.preview_id, "new_preview_id": leg.new_preview_id,
                             "new_preview": leg.result.new_preview.as_json() if leg.result and leg.result.new_preview
                             else None} for leg in reprieved],
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
