"""Finding our order in SnapTrade's order list when the placement's answer was lost.

Placing by trade id carries no client reference, and SnapTrade's order records do not
return one (the force-order endpoint accepts a `client_order_id`, but AccountOrderRecord has
no field for it, and SnapTrade does not enforce its uniqueness), so an order is recognised by
what it is: symbol, side, quantity, type, prices, and a placement time inside our placement's
in-flight window (from its start, less a clock-skew allowance, to the moment the call
returned plus a small one). An identical order created later (the account holder placing it
by hand after a failure) is never claimed, and one without a placement time cannot be shown
to be ours. A value the record leaves out does not otherwise disqualify it; a value it states
must agree. Orders other rows already own are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from brokers.records import OrderLookup
from brokers.snaptrade.parsing import dec, obj, side_of, when

CLOCK_SKEW = timedelta(seconds=60)
"""Before our submission: the broker's clock may run behind ours."""
CLOCK_SKEW_AFTER = timedelta(seconds=5)
"""After our call returned: kept small, since a person may place the same order soon after a failure."""
MAX_DAYS = 90


def lookback_days(lookup: OrderLookup, now: datetime) -> int | None:
    """The `days` to ask for so the list reaches back to the submission; None if beyond SnapTrade's 90."""
    age = now - (lookup.submitted_at - CLOCK_SKEW)
    days = max(1, math.ceil(age.total_seconds() / 86400) + 1)
    return days if days <= MAX_DAYS else None


def _same_text(stated: Any, expected: str) -> bool:
    if stated is None or stated == "":
        return True
    return str(stated).replace("_", "").replace(" ", "").lower() == expected.replace("_", "").lower()


def _same_number(stated: Any, expected: Any) -> bool:
    value = dec(stated)
    if value is None:
        return True
    return expected is not None and value == expected


def matches(lookup: OrderLookup, record: Mapping[str, Any]) -> bool:
    request = lookup.request
    oid = record.get("brokerage_order_id")
    if not oid or str(oid) in lookup.known_brokerage_order_ids:
        return False
    sym = obj(record.get("universal_symbol"))
    if lookup.broker_symbol_id and sym.get("id"):
        if str(sym["id"]) != lookup.broker_symbol_id:
            return False
    elif str(sym.get("symbol") or "").upper() != request.ticker:
        return False
    if side_of(record.get("action")) is not request.side:
        return False
    if not _same_number(record.get("total_quantity"), request.quantity):
        return False
    if not _same_text(record.get("order_type"), request.order_type.value):
        return False
    if not _same_text(record.get("time_in_force"), request.time_in_force.value):
        return False
    if not _same_number(record.get("limit_price"), request.limit_price):
        return False
    if not _same_number(record.get("stop_price"), request.stop_price):
        return False
    placed: datetime | None = when(record.get("time_placed"))
    if placed is None or placed < lookup.submitted_at - CLOCK_SKEW:
        return False
    return lookup.in_flight_until is None or placed <= lookup.in_flight_until + CLOCK_SKEW_AFTER


def candidates(lookup: OrderLookup, records: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if matches(lookup, r)]
