"""Replay: recorded previews and executes (from trade_events) run again, outcomes compared.

`recorded_requests` reads what a database recorded; `replay` runs each request against a service
(built by the caller on simulators and a scratch database) and lists where the outcome differs:
status, refusal code, or an estimated total further apart than the tolerance. Order matters
(a second execute of a preview is ALREADY_EXECUTED), so requests run in the order recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradeEvent, TradePreview
from services.trade_execution import TradeExecutionService

EXECUTE_OUTCOMES = frozenset({"ORDER_SIMULATED", "ORDER_SUBMITTED", "ORDER_REJECTED", "ORDER_FAILED",
                              "ORDER_OUTCOME_UNKNOWN", "EXECUTE_REFUSED"})
TERMS = ("account_id", "ticker", "side", "quantity", "order_type", "limit_price", "stop_price", "time_in_force")


@dataclass
class Recorded:
    """One recorded call: a preview (terms + outcome) or an execute (recorded preview id + outcome)."""

    kind: str  # "preview" | "execute"
    event_id: int
    at: datetime
    preview_id: uuid.UUID | None
    terms: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None  # the status, or "refused"
    error_code: str | None = None
    estimated_total: Decimal | None = None


@dataclass
class Difference:
    event_id: int
    kind: str
    preview_id: str | None
    what: str
    recorded: str
    replayed: str

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped: int = 0
    differences: list[Difference] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "skipped": self.skipped,
                "differences": [d.as_json() for d in self.differences]}


def recorded_requests(
    session_factory: sessionmaker[Session], since: datetime | None = None, account_id: str | None = None
) -> list[Recorded]:
    """Previews (created or refused) and executes with their outcomes, oldest first."""
    query = select(TradeEvent).order_by(TradeEvent.id)
    if since is not None:
        query = query.where(TradeEvent.created_at >= since)
    with session_factory() as session:
        events = list(session.execute(query).scalars())
        preview_ids = {e.preview_id for e in events if e.event_type == "PREVIEW_CREATED" and e.preview_id}
        previews = {p.id: p for p in session.execute(
            select(TradePreview).where(TradePreview.id.in_(preview_ids))).scalars()} if preview_ids else {}
    requests = list(_requests(events, previews))
    if account_id is not None:
        accounts = {r.preview_id: r.terms.get("account_id") for r in requests if r.kind == "preview"}
        requests = [r for r in requests if (r.terms.get("account_id") if r.kind == "preview"
                                            else accounts.get(r.preview_id)) == account_id]
    return requests


def _requests(events: Iterable[TradeEvent], previews: dict[uuid.UUID, TradePreview]) -> Iterable[Recorded]:
    open_executes: dict[tuple[uuid.UUID, uuid.UUID | None], Recorded] = {}
    for event in events:
        if event.event_type == "PREVIEW_CREATED" and event.preview_id in previews:
            row = previews[event.preview_id]
            yield Recorded("preview", event.id, event.created_at, row.id, _terms_of(row), "created",
                           estimated_total=row.estimated_total)
        elif event.event_type == "PREVIEW_REFUSED":
            request = (event.payload or {}).get("request") or {}
            yield Recorded("preview", event.id, event.created_at, None, dict(request), "refused", event.error_code)
        elif event.event_type == "EXECUTE_REQUESTED":
            record = Recorded("execute", event.id, event.created_at, event.preview_id)
            open_executes[(event.correlation_id, event.preview_id)] = record
            yield record
        elif event.event_type in EXECUTE_OUTCOMES:
            refused = event.event_type == "EXECUTE_REFUSED"
            record_or_none = open_executes.pop((event.correlation_id, event.preview_id), None)
            if record_or_none is None and refused:
                # A refusal decided before any intent is written has no EXECUTE_REQUESTED of its own.
                yield Recorded("execute", event.id, event.created_at, event.preview_id, outcome="refused",
                               error_code=event.error_code)
            elif record_or_none is not None:
                record_or_none.outcome = "refused" if refused else event.status
                record_or_none.error_code = event.error_code if refused else None


def _terms_of(row: TradePreview) -> dict[str, Any]:
    return {name: getattr(row, name) for name in TERMS}


def replay(service: TradeExecutionService, requests: list[Recorded], tolerance: Decimal) -> ReplayReport:
    """Run every request in order; a preview id recorded maps to the one replayed for it."""
    report = ReplayReport()
    mapped: dict[uuid.UUID, str] = {}
    for request in requests:
        if request.kind == "preview":
            _replay_preview(service, request, tolerance, mapped, report)
        elif request.preview_id is not None and request.preview_id in mapped and request.outcome is not None:
            _replay_execute(service, request, mapped[request.preview_id], report)
        else:
            report.skipped += 1  # its preview is outside the window, or the execute never finished
    return report


def _replay_preview(service: TradeExecutionService, request: Recorded, tolerance: Decimal,
                    mapped: dict[uuid.UUID, str], report: ReplayReport) -> None:
    report.replayed += 1
    try:
        view = service.preview_trade(**request.terms)
    except TradeError as exc:
        _compare(report, request, "outcome", _said(request), f"refused {exc.code.value}")
        return
    if request.preview_id is not None:
        mapped[request.preview_id] = view.preview_id
    if request.outcome != "created":
        _compare(report, request, "outcome", _said(request), "created")
    elif not _close(request.estimated_total, view.estimated_total, tolerance):
        _compare(report, request, "estimated_total", str(request.estimated_total), str(view.estimated_total))


def _replay_execute(service: TradeExecutionService, request: Recorded, preview_id: str, report: ReplayReport) -> None:
    report.replayed += 1
    try:
        replayed = f"status {service.execute_trade(preview_id).status}"
    except TradeError as exc:
        # A placement the broker refused carries the order's status; a refusal before placing does not
        # (ALREADY_EXECUTED names the earlier order's status, but nothing was placed by this call).
        status = exc.details.get("status") if exc.code is not ErrorCode.ALREADY_EXECUTED else None
        replayed = f"status {status}" if status else f"refused {exc.code.value}"
    _compare(report, request, "outcome", _said(request), replayed)


def _said(request: Recorded) -> str:
    if request.outcome == "refused":
        return f"refused {request.error_code}"
    return "created" if request.kind == "preview" else f"status {request.outcome}"


def _compare(report: ReplayReport, request: Recorded, what: str, recorded: str, replayed: str) -> None:
    if recorded != replayed:
        report.differences.append(Difference(request.event_id, request.kind,
                                             str(request.preview_id) if request.preview_id else None,
                                             what, recorded, replayed))


def _close(recorded: Decimal | None, replayed: Decimal | None, tolerance: Decimal) -> bool:
    """Within `tolerance` (a fraction of the recorded value, at least 0.01 absolute)."""
    if recorded is None or replayed is None:
        return recorded is None and replayed is None
    return abs(recorded - replayed) <= max(abs(recorded) * tolerance, Decimal("0.01"))
