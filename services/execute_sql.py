"""The execute path's statements: two transactions, three statements in all, sent through db/direct.py.

The intent is one statement: a conditional UPDATE consumes the preview (only if it is
ACTIVE and unexpired, so duplicates are answered by the row they find, never by a
second order), data-modifying CTEs insert the order row and its events, and the
holdings-check lock is taken; the open-exposure read follows as a second statement, so
its snapshot is taken after the lock is held. The outcome is one statement too: a
conditional UPDATE of the order plus its event.
The three are fixed PostgreSQL statements, so they go to psycopg directly (db/direct.py); statuses
come back as text and are turned into their enums here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, text

from brokers.errors import TradeError
from brokers.models import OrderStatus
from db import direct
from db.models import ACTIVE_ORDER_FILTER, PreviewStatus, TradeOrder, TradePreview, row_object
from services.exit_exposure import OPEN_EXIT_BUYS, preview_rate, unanswered_change

PREVIEW_COLUMNS = TradePreview.__table__.c
ORDER_COLUMNS = TradeOrder.__table__.c
EVENT_COLUMNS = "created_at, event_type, correlation_id, preview_id, order_id, account_id, broker_provider, status, " \
    "error_code, message, payload"

_PREVIEW_LIST = ", ".join(c.name for c in PREVIEW_COLUMNS)
_ORDER_LIST = ", ".join(c.name for c in ORDER_COLUMNS)
_PREVIEW_NAMES = tuple(c.name for c in PREVIEW_COLUMNS)
_ORDER_NAMES = tuple(c.name for c in ORDER_COLUMNS)

EXECUTE_CHECK_LOCK_CLASS = 0x7E01
"""First key of the two-key advisory lock that serializes execute-time holdings checks per account and side."""


def check_lock_key(provider: str, account_id: str, side: str) -> str:
    """Second key, per account and side: a single order's check counts only its side's working orders (a sell's
    the shares held, a buy's the buying power), so sells contend only with sells and buys with buys. A bracket
    counts on both sides (its exits are orders of the other side), so it takes both locks, BUY first: no
    two transactions ever wait for each other's locks in opposite orders. A change of a working order takes its
    side's lock (lock_holdings_check), after its order row's lock; no one holding this lock waits for a row lock."""
    return f"hashtext({provider} || ':' || {account_id} || ':' || {side})"


CHECK_LOCK_KEY = check_lock_key("p.broker_provider", "p.account_id", "s.side")
_CHECK_LOCK = text(f"SELECT pg_advisory_xact_lock(:lock_class, {check_lock_key(':provider', ':account_id', ':side')})")

_INTENT = direct.psycopg_style(f"""
WITH p AS (
    UPDATE trade_previews SET status = :preview_status
    WHERE id = :preview_id AND status = 'ACTIVE' AND expires_at > now()
    RETURNING {_PREVIEW_LIST}
), o AS (
    INSERT INTO trade_orders (id, preview_id, account_id, broker_provider, client_order_ref, status,
        filled_quantity, remaining_quantity, brokerage_response, created_at, submitted_at, updated_at, user_email)
    SELECT :order_id, p.id, p.account_id, p.broker_provider, :client_order_ref, :order_status,
        0, p.quantity, '{{}}'::jsonb, :now, CASE WHEN :sent THEN CAST(:now AS timestamptz) END, :now, p.user_email
    FROM p
    RETURNING id
), e AS (
    INSERT INTO trade_events ({EVENT_COLUMNS})
    SELECT now(), v.event_type, :correlation_id, p.id, v.order_id, p.account_id, p.broker_provider, v.status,
        NULL, v.message, v.payload
    FROM p CROSS JOIN (VALUES
        ('EXECUTE_REQUESTED', NULL::uuid, NULL::varchar, NULL::text, '{{}}'::jsonb),
        (:order_event, CAST(:order_id AS uuid), CAST(:order_status AS varchar), CAST(:message AS text),
         CAST(:payload AS jsonb))
    ) AS v(event_type, order_id, status, message, payload)
), l AS (
    SELECT pg_advisory_xact_lock(:lock_class, {CHECK_LOCK_KEY})
    FROM p CROSS JOIN (VALUES ('BUY'), ('SELL')) AS s(side)
    WHERE CAST(:sent AS boolean) AND (s.side = p.side OR p.order_options ->> 'take_profit_price' IS NOT NULL
        OR p.order_options ->> 'stop_loss_price' IS NOT NULL)
)
SELECT {_PREVIEW_LIST}, (SELECT count(*) FROM l) AS check_locks FROM p
""")

_OUTCOME = direct.psycopg_style(f"""
WITH o AS (
    UPDATE trade_orders SET status = :status, brokerage_order_id = :brokerage_order_id,
        filled_quantity = :filled_quantity, remaining_quantity = :remaining_quantity,
        average_fill_price = :average_fill_price, commission = :commission, broker_quantity = :broker_quantity,
        error_code = :error_code,
        error_message = :error_message, brokerage_response = CAST(:brokerage_response AS jsonb), updated_at = now(),
        executed_at = CAST(:executed_at AS timestamptz), cancelled_at = CAST(:cancelled_at AS timestamptz)
    WHERE id = :order_id AND status = 'SUBMITTING'
    RETURNING {_ORDER_LIST}
), e AS (
    INSERT INTO trade_events ({EVENT_COLUMNS})
    SELECT now(), :event_type, :correlation_id, o.preview_id, o.id, o.account_id, o.broker_provider, o.status,
        :error_code, :message, CAST(:payload AS jsonb)
    FROM o
)
SELECT {_ORDER_LIST} FROM o
""")


def _buy_value(unfilled: str, limit_price: str, stop_price: str) -> str:
    """A working buy's value in SQL: the preview's value per unit times `unfilled`, scaled by the order's price
    (`order_price`: the limit of a Limit or StopLimit, the stop of a Stop; none: as previewed) over the preview's."""
    return (f"coalesce(p.estimated_total, 0) * {preview_rate('p')} * {unfilled} / p.quantity * coalesce(CASE WHEN "
            f"p.order_type IN ('Limit', 'StopLimit') THEN {limit_price} WHEN p.order_type = 'Stop' THEN "
            f"{stop_price} END / nullif(p.estimated_price, 0), 1)")


_OPEN_EXPOSURE = direct.psycopg_style(f"""
SELECT
    coalesce(sum(greatest(coalesce(o.remaining_quantity, p.quantity), m.new_quantity - o.filled_quantity))
        FILTER (WHERE p.side = 'SELL' AND (p.ticker = :ticker OR p.broker_symbol_id = :symbol)), 0) + (
        SELECT coalesce(sum(x.quantity), 0) FROM (
            SELECT max(c.remaining_quantity) AS quantity
            FROM trade_orders c JOIN trade_orders e ON e.id = c.parent_order_id
            JOIN trade_previews pe ON pe.id = e.preview_id
            WHERE c.account_id = :account_id AND c.broker_provider = :provider AND c.{ACTIVE_ORDER_FILTER}
                AND pe.side = 'BUY' AND (pe.ticker = :ticker OR pe.broker_symbol_id = :symbol)
            GROUP BY c.parent_order_id
        ) AS x) AS sells,
    coalesce(sum(greatest({_buy_value("coalesce(o.remaining_quantity, p.quantity)", "o.limit_price", "o.stop_price")},
        {_buy_value("(m.new_quantity - o.filled_quantity)", "CAST(m.new_terms ->> 'limit_price' AS numeric)",
                    "CAST(m.new_terms ->> 'stop_price' AS numeric)")}))
        FILTER (WHERE p.side = 'BUY'), 0) + ({OPEN_EXIT_BUYS}) AS buys
FROM trade_orders o JOIN trade_previews p ON p.id = o.preview_id
{unanswered_change("o", "m")}
WHERE o.account_id = :account_id AND o.broker_provider = :provider AND o.{ACTIVE_ORDER_FILTER}
""")
"""The working-status filter is spelled as the partial index ix_trade_orders_working_account's predicate, so the
planner reads only the account's working orders (a bound array parameter could not be matched to it). The working
SELL exits of BUY brackets (te0008_order_sets: child legs, one per set since its exits cancel each other) count as
open sells too: they sell what their entry bought, so a separate sell of the same shares must not pass as well.
Mirrored for SELL brackets: their working BUY exits count as open buys, once per set, at the larger of the set's
exit values (services/exit_exposure.py: remaining quantity times its take-profit or stop-loss price, the leg's own
once a modification moved it, te0009_modify, or its change's sent without an answer), against buying power.
A buy counts at its current terms: the unfilled quantity (a confirmed modification rewrites it), and the preview's
value per unit scaled by the order's price now over the price the preview valued it at (`order_price`: the limit
price of a Limit or StopLimit order, the stop price of a Stop order) when a modification wrote the order's terms
on its row. A change sent without an answer yet (SENDING, or UNKNOWN: the broker may have applied it) counts too:
the order counts at the larger of its terms and the change's, so nothing passes on what the change may have taken,
and a change being claimed (services/modification.py) counts itself, as an order being sent does. Buys priced in
another currency than the account's count converted at the rate their preview was checked with (`preview_rate`)."""

_WHY_NOT_ACTIVE = text("""
SELECT p.status, p.expires_at <= now() AS expired, o.id, o.status
FROM trade_previews p LEFT JOIN trade_orders o ON o.preview_id = p.id
WHERE p.id = :preview_id
""")

_EXPIRE = text("""
UPDATE trade_previews SET status = 'EXPIRED' WHERE id = :preview_id AND status = 'ACTIVE' AND expires_at <= now()
RETURNING account_id, broker_provider
""")

EVENT_INSERT = text(f"""
INSERT INTO trade_events ({EVENT_COLUMNS}) VALUES (now(), :event_type, :correlation_id, :preview_id, :order_id,
    :account_id, :broker_provider, :status, :error_code, :message, CAST(:payload AS jsonb))
""")


def _json(value: Any) -> str:
    """JSONB text of a payload: Decimals and datetimes as strings (as order_store.jsonable makes them)."""
    return json.dumps(value, default=str)


@dataclass(frozen=True)
class IntentRow:
    order_id: uuid.UUID
    client_order_ref: str
    sent: bool
    now: datetime


def consume_preview(
    tx: direct.Statements, preview_id: uuid.UUID, correlation: uuid.UUID, intent: IntentRow
) -> TradePreview | None:
    """Consume an ACTIVE preview and insert its order and events; None if the preview was not ACTIVE.

    An order to be sent also takes the holdings-check lock of its account and side (CHECK_LOCK_KEY) until
    the transaction ends: the intent commits right after the check, never across a broker call."""
    order_status = OrderStatus.SUBMITTING if intent.sent else OrderStatus.SIMULATED
    rows = tx.fetch(_INTENT, {
        "preview_id": preview_id, "correlation_id": correlation, "order_id": intent.order_id, "now": intent.now,
        "client_order_ref": intent.client_order_ref, "sent": intent.sent, "order_status": order_status.value,
        "preview_status": (PreviewStatus.EXECUTED if intent.sent else PreviewStatus.SIMULATED).value,
        "order_event": "ORDER_SUBMITTING" if intent.sent else "ORDER_SIMULATED",
        "message": None if intent.sent else "ORDERS_ENABLED=false: recorded, not sent",
        "payload": _json({"client_order_ref": intent.client_order_ref}), "lock_class": EXECUTE_CHECK_LOCK_CLASS,
    })
    if not rows:
        return None
    values = dict(zip(_PREVIEW_NAMES, rows[0], strict=False))  # the row ends with check_locks
    values["status"] = PreviewStatus(values["status"])
    return row_object(TradePreview, values)


def open_exposure(tx: direct.Statements, preview: TradePreview) -> tuple[Decimal, Decimal]:
    """(open sell quantity of this instrument, open buy value) of the account's working orders, this one included."""
    row = tx.fetch(_OPEN_EXPOSURE, {
        "ticker": preview.ticker, "symbol": preview.broker_symbol_id, "account_id": preview.account_id,
        "provider": preview.broker_provider,
    })[0]
    return Decimal(row[0]), Decimal(row[1])


def lock_holdings_check(conn: Connection, provider: str, account_id: str, side: str) -> None:
    """The lock consume_preview takes for an order to be sent, taken by a change of a working order instead."""
    conn.execute(_CHECK_LOCK, {"lock_class": EXECUTE_CHECK_LOCK_CLASS, "provider": provider,
                               "account_id": account_id, "side": side})


def record_outcome(
    engine: Engine, order: TradeOrder, correlation: uuid.UUID, event_type: str, error: TradeError | None,
    payload: dict[str, Any],
) -> TradeOrder | None:
    """Write the placement's outcome onto a row still SUBMITTING, and COMMIT, in one round trip; None if
    something else moved the row first (nothing is written then)."""
    rows = direct.fetch_and_commit(engine, _OUTCOME, {
        "order_id": order.id, "status": order.status.value, "brokerage_order_id": order.brokerage_order_id,
        "broker_quantity": order.broker_quantity,
        "filled_quantity": order.filled_quantity, "remaining_quantity": order.remaining_quantity,
        "average_fill_price": order.average_fill_price, "commission": order.commission,
        "error_code": order.error_code, "error_message": order.error_message,
        "executed_at": order.executed_at, "cancelled_at": order.cancelled_at,
        "brokerage_response": _json(order.brokerage_response or {}), "event_type": event_type,
        "correlation_id": correlation, "message": error.message if error else None, "payload": _json(payload),
    })
    if not rows:
        return None
    values = dict(zip(_ORDER_NAMES, rows[0], strict=True))
    values["status"] = OrderStatus(values["status"])
    return row_object(TradeOrder, values)


def why_not_active(conn: Connection, preview_id: uuid.UUID) -> tuple[Any, ...] | None:
    """(preview status, expired?, order id, order status) of a preview the intent did not consume."""
    row = conn.execute(_WHY_NOT_ACTIVE, {"preview_id": preview_id}).first()
    return None if row is None else tuple(row)


def expire_preview(conn: Connection, preview_id: uuid.UUID) -> tuple[str, str] | None:
    row = conn.execute(_EXPIRE, {"preview_id": preview_id}).first()
    return None if row is None else (row[0], row[1])


def insert_event(conn: Connection, event_type: str, correlation: uuid.UUID, **fields: Any) -> None:
    """One audit event with plain values: refusals are written in their own short transaction."""
    conn.execute(EVENT_INSERT, event_params(event_type, correlation, **fields))


def event_params(event_type: str, correlation: uuid.UUID, **fields: Any) -> dict[str, Any]:
    """The bound values of EVENT_INSERT for one event (several go in one executemany)."""
    error: TradeError | None = fields.pop("error", None)
    payload = fields.pop("payload", None)
    return {
        "event_type": event_type, "correlation_id": correlation, "preview_id": fields.get("preview_id"),
        "order_id": fields.get("order_id"), "account_id": (fields.get("account_id") or "")[:64] or None,
        "broker_provider": fields.get("provider"), "status": fields.get("status"),
        "error_code": error.code.value if error else None,
        "message": fields.get("message") or (error.message if error else None),
        "payload": _json(payload if payload is not None else (error.to_dict() if error else {})),
    }
