"""`get_orders`: our rows merged with the orders the broker reports, scoped to tradeable accounts.

Rules (platform contract, issues 11.4 and 15):
- without account_id the only tradeable account is used; several is AMBIGUOUS_ACCOUNT;
- an account no configured broker may trade (IBKR_ACCOUNTS) is ACCOUNT_NOT_FOUND, never [];
- `open` ignores `days` (a GTC order placed 45 days ago is still open);
- `executed` is every order with a fill, whatever its final status (CANCELED with 3 filled);
- `cancelled` is CANCELED or EXPIRED;
- broker orders not placed through the module appear with `source: "brokerage"`, id/preview_id null.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from brokers.base import BrokerAdapter
from brokers.errors import ErrorCode, TradeError
from brokers.models import ACTIVE_STATUSES, FINAL_STATUSES, UNSETTLED_STATUSES, OrderStatus
from brokers.records import BrokerOrder
from brokers.user_context import belongs_to_another
from db.models import TradeOrder, TradePreview
from services.order_store import OrderStore, utcnow
from services.results import OrderView
from services.routing import AdapterRouter

log = logging.getLogger(__name__)

ORDER_STATES = ("all", "open", "executed", "cancelled")
OPEN = frozenset(ACTIVE_STATUSES | UNSETTLED_STATUSES)
CANCELLED = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED})
OPEN_LOOKBACK_DAYS = 3650
"""`open` ignores `days`; brokers that cap their look-back (SnapTrade: 90) apply their own cap."""
MAX_ROWS = 1000


def check_listing_arguments(account_id: Any, state: Any, days: Any) -> None:
    if state not in ORDER_STATES:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"state must be one of {', '.join(ORDER_STATES)}",
                         {"state": str(state)[:40], "field": "state"})
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise TradeError(ErrorCode.VALIDATION_ERROR, "days must be a whole number from 1 to 3650", {"field": "days"})
    if account_id is not None and (not isinstance(account_id, str) or not 0 < len(account_id) <= 64):
        raise TradeError(ErrorCode.VALIDATION_ERROR, "account_id must be a string of 1 to 64 characters",
                         {"field": "account_id"})


def _local_clause(state: str, since: datetime) -> ColumnElement[bool]:
    if state == "open":
        return TradeOrder.status.in_([s.value for s in OPEN])
    recent = TradeOrder.created_at >= since
    if state == "executed":
        return and_(recent, TradeOrder.filled_quantity > 0)
    if state == "cancelled":
        return and_(recent, TradeOrder.status.in_([s.value for s in CANCELLED]))
    return recent


def broker_order_matches(order: BrokerOrder, state: str, since: datetime) -> bool:
    if state == "open":
        return order.status in OPEN
    if order.placed_at is not None and order.placed_at < since:
        return False
    if state == "executed":
        return order.filled_quantity > 0
    if state == "cancelled":
        return order.status in CANCELLED
    return True


class OrderListing:
    def __init__(self, store: OrderStore, router: AdapterRouter) -> None:
        self.store = store
        self.router = router

    def scope(self, account_id: str | None) -> tuple[str, BrokerAdapter]:
        """The account to list and its broker: the given one if a broker may trade it, else the only one."""
        if account_id is not None:
            return account_id, self.router.for_account(account_id)
        accounts = [(a.account_id, adapter) for adapter in self.router.adapters for a in adapter.list_accounts()]
        if len(accounts) == 1:
            return accounts[0]
        if not accounts:
            raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, "no tradeable account is configured")
        raise TradeError(
            ErrorCode.AMBIGUOUS_ACCOUNT,
            f"{len(accounts)} tradeable accounts: pass account_id (see list_tradeable_accounts)",
            {"accounts": [a for a, _ in accounts], "field": "account_id"},
        )

    def orders(self, account_id: Any, state: Any, days: Any, *, user: str | None = None) -> list[OrderView]:
        """With `user`: without other users' rows (theirs are still never shown as the broker's own)."""
        check_listing_arguments(account_id, state, days)
        account, adapter = self.scope(account_id)
        since = utcnow() - timedelta(days=days)
        broker_orders, broker_error = self._broker_orders(adapter, account, state, days, since)
        with self.store.session_factory() as session:
            rows = self._local(session, account, state, since)
            local = [OrderView.of(o, p, stale=broker_error and o.status not in FINAL_STATUSES) for o, p in rows
                     if not belongs_to_another(o.user_email, user)]
            foreign = self._not_ours(session, adapter, account, broker_orders)
        merged = local + [OrderView.of_broker(o, adapter.provider.value) for o in foreign]
        merged.sort(key=lambda v: v.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return merged[:MAX_ROWS]

    def _local(self, session: Session, account: str, state: str, since: datetime) -> list[tuple[TradeOrder, Any]]:
        stmt = (
            select(TradeOrder, TradePreview)
            .outerjoin(TradePreview, TradePreview.id == TradeOrder.preview_id)
            .where(TradeOrder.account_id == account, _local_clause(state, since))
            .order_by(TradeOrder.created_at.desc())
            .limit(MAX_ROWS)
        )
        rows = session.execute(stmt).all()
        # A bracket's child leg (no preview of its own) is listed with its entry's preview, read by the
        # entries' keys: a self-join here made the planner hash every order of the table.
        parents = {o.parent_order_id for o, p in rows if p is None and o.parent_order_id is not None}
        of_entry = dict(session.execute(
            select(TradeOrder.id, TradePreview).join(TradePreview, TradePreview.id == TradeOrder.preview_id)
            .where(TradeOrder.id.in_(parents))).tuples().all()) if parents else {}
        listed = [(o, p if p is not None else of_entry.get(o.parent_order_id)) for o, p in rows]
        return [(o, p) for o, p in listed if p is not None]

    def _broker_orders(
        self, adapter: BrokerAdapter, account: str, state: str, days: int, since: datetime
    ) -> tuple[list[BrokerOrder], bool]:
        """What the broker reports (best effort: a listing of our rows survives a broker outage)."""
        ask_state, ask_days = ("open", OPEN_LOOKBACK_DAYS) if state == "open" else ("all", days)
        try:
            orders = adapter.get_orders(account, ask_state, ask_days)
        except TradeError as exc:
            log.warning("could not list %s orders of %s: %s", adapter.provider.value, account, exc.message)
            return [], True
        return [o for o in orders if broker_order_matches(o, state, since)], False

    def _not_ours(
        self, session: Session, adapter: BrokerAdapter, account: str, orders: list[BrokerOrder]
    ) -> list[BrokerOrder]:
        """Broker orders with no row of ours, matched by broker id or our client ref, whatever their age."""
        ids = {o.brokerage_order_id for o in orders if o.brokerage_order_id}
        refs = {o.client_order_ref for o in orders if o.client_order_ref}
        if not ids and not refs:
            return []
        known = session.execute(
            select(TradeOrder.brokerage_order_id, TradeOrder.client_order_ref).where(
                TradeOrder.account_id == account,
                TradeOrder.broker_provider == adapter.provider.value,
                or_(TradeOrder.brokerage_order_id.in_(ids), TradeOrder.client_order_ref.in_(refs)),
            )
        ).all()
        known_ids = {i for i, _ in known if i}
        known_refs: set[str | None] = {r for _, r in known if r}
        return [o for o in orders if o.brokerage_order_id not in known_ids and o.client_order_ref not in known_refs]
