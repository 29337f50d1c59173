"""Half-placed order sets: an entry at the broker without its protective children is never left working.

A bracket's placement can be cut between its legs (the process dies after the entry was sent and
before its children were). Reconciliation then finds the entry at the broker (IBKR keeps it, held
untransmitted or working) while a child was never placed. The decision, for every such set, once
the placement can no longer be in flight (its start + the broker timeout):

* each child still unsettled is looked up once more by its own orderRef; one that is found is
  settled as usual, one that is not becomes FAILED (it never reached the broker);
* if a child is missing and the entry is still working, the entry is CANCELLED at the broker: an
  entry must not trade without the exits the human confirmed with it;
* the entry row is flagged `attention = HALF_PLACED_SET` for an operator, with the evidence in an
  ORDER_SET_HALF_PLACED event (and a CANCEL_FAILED one when the cancel was refused, or a note that
  the entry had already filled: a position without its protective orders).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from brokers.errors import TradeError
from brokers.models import ACTIVE_STATUSES, UNSETTLED_STATUSES, OrderStatus
from brokers.records import BrokerOrder
from db.engine import transaction
from db.models import TradeOrder
from services.order_store import OrderStore, new_event, utcnow
from services.order_updates import apply_broker_order, record_report
from services.reconcile_evidence import lookup_for
from services.routing import AdapterRouter
from services.set_legs import set_rows

log = logging.getLogger(__name__)

HALF_PLACED_SET = "HALF_PLACED_SET"
SETTLEABLE = frozenset({*ACTIVE_STATUSES, OrderStatus.EXECUTED})
"""Entry statuses that prove the entry reached the broker."""


class HalfPlacedSets:
    def __init__(self, store: OrderStore, router: AdapterRouter, placement: timedelta, recheck: timedelta) -> None:
        self.store = store
        self.router = router
        self.placement = placement
        self.recheck = recheck

    def settle_account(self, account_id: str, correlation: uuid.UUID, in_flight: Any) -> dict[str, str]:
        """Settle every half-placed set of one account (the caller holds its reconciliation lock).
        Returns {entry order id: flag} for the entries flagged, plus child ids marked FAILED."""
        settled: dict[str, str] = {}
        for entry_id in self._candidates(account_id, utcnow() - self.placement):
            if in_flight(entry_id):
                continue
            try:
                settled.update(self._settle(entry_id, correlation))
            except TradeError as exc:
                log.warning("could not settle the half-placed set of %s: %s", entry_id, exc.message)
        return settled

    def _candidates(self, account_id: str, started_before: datetime) -> list[uuid.UUID]:
        child = aliased(TradeOrder)
        missing_child = exists().where(
            child.parent_order_id == TradeOrder.id,
            (child.status.in_([s.value for s in UNSETTLED_STATUSES]))
            | ((child.status == OrderStatus.FAILED.value) & child.brokerage_order_id.is_(None)),
        )
        stmt = select(TradeOrder.id).where(
            TradeOrder.account_id == account_id, TradeOrder.leg_role == "entry", TradeOrder.attention.is_(None),
            TradeOrder.status.in_([s.value for s in SETTLEABLE]),
            func.coalesce(TradeOrder.submitted_at, TradeOrder.created_at) <= started_before, missing_child,
        )
        with self.store.session_factory() as session:
            return list(session.execute(stmt).scalars())

    def _settle(self, entry_id: uuid.UUID, correlation: uuid.UUID) -> dict[str, str]:
        with self.store.session_factory() as session:
            entry = self.store.get_order(session, entry_id)
            children = set_rows(session, entry_id)
            if entry is None:
                return {}
            lookups = {c.id: lookup_for(session, c, self.placement) for c in children
                       if c.status in UNSETTLED_STATUSES or c.brokerage_order_id is None}
        adapter = self.router.for_provider(entry.broker_provider)
        found = {cid: adapter.find_order_by_ref(lookup) for cid, lookup in lookups.items()}
        missing = [cid for cid, order in found.items() if order is None]
        cancel, cancel_error = self._cancel_entry(entry) if missing else (None, None)
        with transaction(self.store.session_factory) as session:
            outcome = self._record_children(session, found, correlation)
            if missing:
                outcome[str(entry_id)] = HALF_PLACED_SET
                self._flag_entry(session, entry_id, missing, cancel, cancel_error, correlation)
        return outcome

    def _cancel_entry(self, entry: TradeOrder) -> tuple[BrokerOrder | None, TradeError | None]:
        if entry.status not in ACTIVE_STATUSES or not entry.brokerage_order_id:
            return None, None  # filled already: nothing to cancel, the flag says so
        try:
            adapter = self.router.for_provider(entry.broker_provider)
            return adapter.cancel_order(entry.account_id, entry.brokerage_order_id), None
        except TradeError as exc:
            return None, exc

    def _record_children(
        self, session: Session, found: dict[uuid.UUID, BrokerOrder | None], correlation: uuid.UUID
    ) -> dict[str, str]:
        outcome: dict[str, str] = {}
        for child_id, order in found.items():
            row = self.store.get_order(session, child_id, lock=True)
            if row is None:
                continue
            if order is not None:
                record_report(session, row, order, event_type="ORDER_RECONCILED", correlation=correlation,
                              recheck=self.recheck)
            elif row.status in UNSETTLED_STATUSES:
                row.status, row.updated_at = OrderStatus.FAILED, utcnow()
                row.error_code = "NOT_PLACED"
                row.error_message = ("never reached the broker: the bracket's placement was interrupted after its "
                                     "entry was sent; the entry is cancelled and flagged HALF_PLACED_SET")
                session.add(_event("ORDER_FAILED", row, correlation, {"reason": "half-placed set"}))
            outcome[str(child_id)] = OrderStatus(row.status).value
        return outcome

    def _flag_entry(self, session: Session, entry_id: uuid.UUID, missing: list[uuid.UUID],
                    cancel: BrokerOrder | None, cancel_error: TradeError | None, correlation: uuid.UUID) -> None:
        entry = self.store.get_order(session, entry_id, lock=True)
        if entry is None:
            return
        changes = apply_broker_order(entry, cancel) if cancel is not None else None
        entry.attention, entry.updated_at = HALF_PLACED_SET, utcnow()
        if cancel_error is not None:
            decision = f"the cancel was refused ({cancel_error.message}): cancel it by hand"
        elif cancel is not None:
            decision = "cancelled at the broker"
        else:
            decision = "it had already filled: the position has no protective orders; place them by hand"
        session.add(_event("ORDER_SET_HALF_PLACED", entry, correlation, {
            "missing_legs": [str(m) for m in missing], "decision": decision, "changes": changes or {},
            "broker": cancel.raw if cancel is not None else None,
            "error": cancel_error.to_dict() if cancel_error is not None else None,
        }, message=f"the bracket's entry was placed without its protective orders: {decision}"))


def _event(event_type: str, row: TradeOrder, correlation: uuid.UUID, payload: dict[str, Any],
           message: str | None = None) -> Any:
    return new_event(event_type, correlation_id=correlation, preview_id=row.preview_id, order_id=row.id,
                     account_id=row.account_id, provider=row.broker_provider, status=row.status,
                     message=message, payload=payload)

