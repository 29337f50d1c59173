"""Steps 3-4 of the execute protocol for an order set (a bracket), after its whole intent was committed.

The adapter places the legs once each (the entry, then its children: `place_order_set`), and each
leg's outcome is recorded on its own row by the same rules as a single order (refused: REJECTED,
nothing sent: FAILED, may exist: UNKNOWN). The answer is the entry's view with every leg's
`order_ids` / `order_roles`. A set left half-placed (the entry sent, its children not) is settled
by reconciliation (services/set_reconcile.py), which never leaves such an entry working.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from contextlib import ExitStack

from brokers.bracket_rules import LegRole
from brokers.errors import BrokerRefused, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.models import OrderStatus
from brokers.order_legs import LegOutcome, OrderSetLeg, leg_request
from brokers.records import OrderToPlace
from db.models import TradeOrder
from services.execute_path import ExecutePath, Intent
from services.reconciliation import Reconciler
from services.results import OrderView
from telemetry.metrics import observe_order_outcome

log = logging.getLogger(__name__)


def set_view(views: list[OrderView]) -> OrderView:
    """The entry's view carrying the whole set: every leg's order_id and role, and each leg's view."""
    return views[0].model_copy(update={
        "order_ids": [v.order_id for v in views], "order_roles": [v.leg_role for v in views],
        "legs": [v.as_json() for v in views],
    })


def simulated_set(intent: Intent) -> OrderView:
    """ORDERS_ENABLED=false: every leg was recorded SIMULATED in the intent; nothing was sent."""
    return set_view([OrderView.of(row, intent.preview) for row in (intent.order, *intent.legs)])


class SetExecution:
    def __init__(self, execution: ExecutePath, reconciler: Reconciler, checkpoint: Callable[[str], None]) -> None:
        self.execution = execution
        self.reconciler = reconciler
        self.checkpoint = checkpoint

    def place_and_record(self, intent: Intent, correlation: uuid.UUID) -> OrderView:
        rows = (intent.order, *intent.legs)
        with ExitStack() as stack:
            for row in rows:  # reconciliation in this process leaves every leg alone until this returns
                stack.enter_context(self.reconciler.placing(row.id))
            self.checkpoint("after_intent_commit")
            outcomes = self._place(intent)
            self.checkpoint("after_broker_call")
            views = [self._record(intent, row, outcome, correlation) for row, outcome in zip(rows, outcomes,
                                                                                            strict=True)]
        entry = set_view(views)
        for view in views:
            observe_order_outcome(view.broker_provider, view.status)
        refused = next((o.error for o in outcomes if o.role is LegRole.ENTRY and o.error is not None), None)
        if entry.status in (OrderStatus.REJECTED, OrderStatus.FAILED) and refused is not None:
            raise TradeError(refused.code, f"the bracket was not placed: {refused.message}",
                             {**refused.details, "order_id": entry.order_id, "order_ids": entry.order_ids,
                              "status": entry.status})
        return entry

    def _place(self, intent: Intent) -> list[LegOutcome]:
        preview, adapter = intent.preview, intent.adapter
        roles = [LegRole(row.leg_role or LegRole.ENTRY.value) for row in (intent.order, *intent.legs)]
        legs = [OrderSetLeg(
            role=role, client_order_ref=row.client_order_ref or "",
            to_place=OrderToPlace(request=leg_request(intent.request, role),
                                  broker_symbol_id=preview.broker_symbol_id, preview_data=preview.broker_preview_data),
        ) for role, row in zip(roles, (intent.order, *intent.legs), strict=True)]
        try:
            outcomes = adapter.place_order_set(preview.account_id, legs, self.checkpoint)
        except TradeError as exc:
            error = exc if isinstance(exc, (BrokerRefused, NothingSent, OrderOutcomeUnknown)) else \
                OrderOutcomeUnknown(f"{exc.message}; the set may exist", exc.details)
            return [LegOutcome(leg.role, None, error) for leg in legs]
        except Exception as exc:
            log.exception("unexpected error from %s place_order_set; the set may exist", adapter.provider.value)
            unknown = OrderOutcomeUnknown(f"unexpected error while placing: {type(exc).__name__}")
            return [LegOutcome(leg.role, None, unknown) for leg in legs]
        if [o.role for o in outcomes] != [leg.role for leg in legs]:
            unknown = OrderOutcomeUnknown("the adapter answered for other legs than were sent; the set may exist")
            return [LegOutcome(leg.role, None, unknown) for leg in legs]
        return outcomes

    def _record(self, intent: Intent, row: TradeOrder, outcome: LegOutcome, correlation: uuid.UUID) -> OrderView:
        leg = dataclasses.replace(intent, order=row, legs=())
        try:
            return self.execution.record_outcome(leg, correlation, outcome.order, outcome.error)
        except TradeError as exc:
            raise OrderOutcomeUnknown(
                "the bracket was sent to the broker but its outcome could not be recorded "
                f"({exc.code.value}); reconciliation will settle it",
                {"order_id": str(intent.order.id), "client_order_ref": intent.order.client_order_ref},
            ) from None
