"""Several orders at once, by our order ids: `get_orders_status` and `cancel_orders` (issue 16).

Each order is read or cancelled on its own: one that is unknown, final or refused is an entry
with its error, never the end of the call. Every cancel attempt is audited by the cancel path
itself (CANCEL_REQUESTED / CANCEL_REFUSED / CANCEL_FAILED / CANCEL_RESULT).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from brokers.errors import ErrorCode, TradeError
from brokers.models import ACTIVE_STATUSES
from brokers.user_context import parse_user_email
from services.results import OrderView, View

if TYPE_CHECKING:
    from services.order_store import OrderStore
    from services.queries import OrderQueries

MAX_ORDER_IDS = 50


class OrderOutcome(View):
    """One order of a multi-order call: its view when it could be read, else the error."""

    order_id: str
    ok: bool
    order: OrderView | None = None
    error: dict[str, Any] | None = None


class OrdersResult(View):
    orders: list[OrderOutcome]
    count: int
    succeeded: int
    failed: int

    @classmethod
    def of(cls, outcomes: list[OrderOutcome]) -> OrdersResult:
        good = sum(1 for o in outcomes if o.ok)
        return cls(orders=outcomes, count=len(outcomes), succeeded=good, failed=len(outcomes) - good)


def parse_order_ids(values: Any, field: str = "order_ids") -> list[uuid.UUID]:
    """1 to 50 canonical order ids, each once, in the order given; every malformed one named."""
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"{field} must be a list of order ids", {"field": field})
    if not 0 < len(values) <= MAX_ORDER_IDS:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"{field} must hold 1 to {MAX_ORDER_IDS} order ids",
                         {"field": field})
    parsed: list[uuid.UUID] = []
    bad: list[str] = []
    for given in values:
        value = str(given) if isinstance(given, uuid.UUID) else given
        try:
            one = uuid.UUID(value) if isinstance(value, str) else None
        except ValueError:
            one = None
        if one is None or str(one) != value.lower():
            bad.append(str(value)[:80])
        elif one not in parsed:
            parsed.append(one)
    if bad:
        raise TradeError(ErrorCode.VALIDATION_ERROR,
                         f"{field}: not order ids exactly as returned (36-character ids): {', '.join(bad[:5])}",
                         {"field": field, "invalid": bad[:20]})
    return parsed


class OrderSets:
    """Mixed into TradeExecutionService: calls over several of our orders at once."""

    queries: OrderQueries
    store: OrderStore

    if TYPE_CHECKING:  # provided by TradeExecutionService

        @staticmethod
        def _guarded(action: Callable[[], Any]) -> Any: ...

    def get_orders_status(self, order_ids: Any, *, user_email: Any = None) -> OrdersResult:
        """The status of each order (refreshed from the broker when it may have moved); with `user_email`,
        another user's order is not found (audited)."""

        ids: list[uuid.UUID] = self._guarded(lambda: parse_order_ids(order_ids))
        user = parse_user_email(user_email)
        return OrdersResult.of([self._each(oid, lambda o: self.queries.status(o, user=user)) for oid in ids])

    def cancel_orders(self, order_ids: Any, *, user_email: Any = None) -> OrdersResult:
        """Cancel each order on its own (a bracket's entry cancels its set at the broker); each one audited."""

        ids: list[uuid.UUID] = self._guarded(lambda: parse_order_ids(order_ids))
        user = parse_user_email(user_email)
        return OrdersResult.of([self._each(oid, lambda o: self.cancel_with_set(o, user)) for oid in ids])

    def cancel_with_set(self, raw_order_id: Any, user: str | None) -> OrderView:
        """Cancel one order; a bracket's entry takes its whole set with it (working children included,
        also once the entry has filled). The broker cancels attached children itself; any child still
        working afterwards is cancelled explicitly. Each cancel sent is audited by the cancel path."""
        from services.queries import parse_order_id
        from services.set_legs import set_rows

        order_id = parse_order_id(raw_order_id)
        with self.store.session_factory() as session:
            children = [row.id for row in set_rows(session, order_id)]
        if not children:
            return self.queries.cancel(order_id, user=user)
        try:
            entry = self.queries.cancel(order_id, user=user)
        except TradeError as exc:
            if exc.code is not ErrorCode.ORDER_NOT_CANCELABLE:
                raise
            entry = self.queries.status(order_id, user=user)  # filled already: its exits are left to cancel
            if not any(self.queries.status(child, user=user).status in ACTIVE_STATUSES for child in children):
                raise
        views = [entry, *(self._cancel_child(child, user) for child in children)]
        return views[0].model_copy(update={"order_ids": [v.order_id for v in views],
                                           "order_roles": [v.leg_role for v in views],
                                           "legs": [v.as_json() for v in views]})

    def _cancel_child(self, order_id: uuid.UUID, user: str | None) -> OrderView:
        view = self.queries.status(order_id, user=user)
        if view.status not in ACTIVE_STATUSES:
            return view
        try:
            return self.queries.cancel(order_id, user=user)
        except TradeError as exc:
            if exc.code is not ErrorCode.ORDER_NOT_CANCELABLE:
                raise
            return self.queries.status(order_id, user=user)

    def _each(self, order_id: uuid.UUID, action: Callable[[uuid.UUID], OrderView]) -> OrderOutcome:
        try:
            view: OrderView = self._guarded(lambda: action(order_id))
        except TradeError as exc:
            return OrderOutcome(order_id=str(order_id), ok=False, error=exc.to_dict())
        return OrderOutcome(order_id=str(order_id), ok=True, order=view)
