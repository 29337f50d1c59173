"""What the working BUY exits of SELL brackets spend: their value as the execute-time buying-power check counts it.

A SELL bracket's take-profit and stop-loss are BUY orders the broker may fill; since they cancel each other,
a set counts once, at the larger of its exits' values: remaining quantity, times the leg's price (its own
once a modification moved it, else the preview's take_profit_price / stop_loss_price), times the rate the
set's preview was checked with. A change of an exit sent without an answer (SENDING, or UNKNOWN: the
broker may have applied it) counts too, at the larger of the leg's price and the change's, as a working
buy's unanswered change does (services/execute_sql.py). One definition serves the execute-time sum
(OPEN_EXIT_BUYS) and the question whether a change of an exit needs the account check at all
(`raises_set_exit_value`, services/modification_exposure.py).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, text

from db.models import ACTIVE_ORDER_FILTER

UNANSWERED = "('SENDING', 'UNKNOWN')"


def preview_rate(preview: str) -> str:
    """A preview's amounts in the account's currency: its stored exchange rate (services/currency_conversion.py)."""
    return f"coalesce(CAST({preview}.impact ->> 'exchange_rate' AS numeric), 1)"


def unanswered_change(order: str, alias: str, *, excluding: str | None = None) -> str:
    """The order's latest change sent without an answer, as `alias` (its new_quantity and new_terms; NULLs when
    there is none); `excluding`: a modification id parameter left out."""
    other = f" AND m.id <> {excluding}" if excluding else ""
    return (f"LEFT JOIN LATERAL (SELECT m.new_quantity, m.new_terms FROM trade_modifications m WHERE m.order_id = "
            f"{order}.id AND m.status IN {UNANSWERED}{other} ORDER BY m.sent_at DESC LIMIT 1) AS {alias} ON true")


def _exit_price(leg: str, preview: str) -> str:
    return (f"CASE {leg}.leg_role WHEN 'take_profit' THEN coalesce({leg}.limit_price, "
            f"CAST({preview}.order_options ->> 'take_profit_price' AS numeric)) ELSE coalesce({leg}.stop_price, "
            f"CAST({preview}.order_options ->> 'stop_loss_price' AS numeric)) END")


def _changed_price(leg: str, change: str) -> str:
    return (f"CASE {leg}.leg_role WHEN 'take_profit' THEN CAST({change}.new_terms ->> 'limit_price' AS numeric) "
            f"ELSE CAST({change}.new_terms ->> 'stop_price' AS numeric) END")


def exit_value(leg: str = "c", preview: str = "pe", change: str = "mc") -> str:
    """One exit leg's value in the account's currency (greatest() skips the NULL of no change)."""
    return (f"{leg}.remaining_quantity * {preview_rate(preview)} * "
            f"greatest({_exit_price(leg, preview)}, {_changed_price(leg, change)})")


_SET_EXITS = ("FROM trade_orders c JOIN trade_orders e ON e.id = c.parent_order_id "
                       "JOIN trade_previews pe ON pe.id = e.preview_id")

OPEN_EXIT_BUYS = f"""
SELECT coalesce(sum(x.value), 0) FROM (
    SELECT max({exit_value()}) AS value
    {_SET_EXITS}
    {unanswered_change("c", "mc")}
    WHERE c.account_id = :account_id AND c.broker_provider = :provider AND c.{ACTIVE_ORDER_FILTER}
        AND pe.side = 'SELL'
    GROUP BY c.parent_order_id
) AS x"""
"""The value of the account's SELL brackets' working BUY exits, once per set (a scalar subquery)."""

_SET_EXIT_VALUE = text(f"""
SELECT max({exit_value(change="b")}), max({exit_value()})
{_SET_EXITS}
{unanswered_change("c", "b", excluding=":modification_id")}
{unanswered_change("c", "mc")}
WHERE c.parent_order_id = :entry_id AND c.{ACTIVE_ORDER_FILTER} AND pe.side = 'SELL'
""")


def raises_set_exit_value(conn: Connection, entry_id: uuid.UUID, modification_id: uuid.UUID) -> bool:
    """Whether the claimed (SENDING) change `modification_id` of one of the entry's exits raises the value its set
    counts as open buys (always False for a BUY bracket: its exits are sells)."""
    before, after = conn.execute(_SET_EXIT_VALUE, {"entry_id": entry_id, "modification_id": modification_id}).one()
    return after is not None and (before is None or after > before)
