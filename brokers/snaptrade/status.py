"""SnapTrade's 20 order statuses mapped to the common status, in one table.

When SnapTrade's meaning is unclear the order is kept *working* (PENDING/ACCEPTED):
an order wrongly shown as working is polled again and corrected, while one wrongly
shown as final would hide later fills (final statuses are sticky in the order store).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from types import MappingProxyType

from brokers.models import ACTIVE_STATUSES, OrderStatus

log = logging.getLogger(__name__)

STATUS_TABLE: MappingProxyType[str, OrderStatus] = MappingProxyType(
    {
        "NONE": OrderStatus.PENDING,  # the brokerage reported no status yet
        "PENDING": OrderStatus.PENDING,
        "QUEUED": OrderStatus.PENDING,  # held until the market opens
        "PENDING_RISK_REVIEW": OrderStatus.PENDING,
        "CONTINGENT_ORDER": OrderStatus.PENDING,  # waits for its parent order
        "ACCEPTED": OrderStatus.ACCEPTED,
        "TRIGGERED": OrderStatus.ACCEPTED,  # stop reached, now working
        "ACTIVATED": OrderStatus.ACCEPTED,
        "CANCEL_PENDING": OrderStatus.ACCEPTED,  # still working until the cancel is confirmed
        "REPLACE_PENDING": OrderStatus.ACCEPTED,
        "SUSPENDED": OrderStatus.ACCEPTED,  # on the book but not eligible to trade for now
        "STOPPED": OrderStatus.CANCELED,  # done at the brokerage: no more fills, not cancelable (fills kept)
        "PARTIAL": OrderStatus.PARTIAL,
        "EXECUTED": OrderStatus.EXECUTED,
        "CANCELED": OrderStatus.CANCELED,
        "PARTIAL_CANCELED": OrderStatus.CANCELED,  # filled in part, the rest canceled
        "REPLACED": OrderStatus.CANCELED,  # this order id is done; a new one replaced it
        "REJECTED": OrderStatus.REJECTED,
        "FAILED": OrderStatus.FAILED,
        "EXPIRED": OrderStatus.EXPIRED,
    }
)

_warned: set[str] = set()


def common_status(raw_status: str | None, filled_quantity: Decimal = Decimal(0)) -> OrderStatus:
    """The common status for a SnapTrade status; a working order with fills is PARTIAL."""
    key = (raw_status or "NONE").strip().upper()
    status = STATUS_TABLE.get(key)
    if status is None:
        if key not in _warned:
            _warned.add(key)
            log.warning("unknown SnapTrade order status %r: treated as PENDING until it changes", key[:40])
        status = OrderStatus.PENDING
    if status in ACTIVE_STATUSES and filled_quantity > 0:
        return OrderStatus.PARTIAL
    return status
