"""IB order statuses and error codes, each in one table.

Keeping the mapping in one place means a new IB status or code is one edit, and the
adapter, the connection manager and the tests all agree on what a code means.
"""

from __future__ import annotations

from decimal import Decimal

from brokers.models import OrderStatus

IB_ORDER_STATUS: dict[str, OrderStatus] = {
    "ApiPending": OrderStatus.PENDING,
    "PendingSubmit": OrderStatus.PENDING,
    "PreSubmitted": OrderStatus.PENDING,
    "Submitted": OrderStatus.ACCEPTED,
    "ApiUpdate": OrderStatus.ACCEPTED,
    "PendingCancel": OrderStatus.ACCEPTED,  # still working until IB confirms the cancel
    "Filled": OrderStatus.EXECUTED,
    "Cancelled": OrderStatus.CANCELED,
    "ApiCancelled": OrderStatus.CANCELED,
    "Inactive": OrderStatus.REJECTED,
}
"""IB status -> common status. Anything not listed maps to UNKNOWN, which never moves a row."""

WORKING_IB_STATUSES = frozenset({"PendingSubmit", "PreSubmitted", "Submitted", "ApiUpdate", "PendingCancel"})
"""Statuses in which a partial fill makes the order PARTIAL."""

ACKNOWLEDGED_IB_STATUSES = frozenset(IB_ORDER_STATUS) - {"ApiPending", "PendingSubmit"}
"""Statuses that prove the gateway received a placement."""

IB_DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})

LOCATE_HOLD = "locate"
"""whyHeld value of an Inactive short sale waiting for shares to borrow: held, not rejected."""

# --- error codes, grouped by what they mean to us --------------------------------------------
CONNECTION_LOST_CODES = frozenset({1100, 2110})
"""The gateway lost its link to IB's servers; the socket to the gateway may still be up."""

CONNECTION_RESTORED_CODES = frozenset({1101, 1102})
"""The link is back (1101: subscriptions were lost, 1102: kept)."""

SOCKET_RESET_CODES = frozenset({1300})
"""The gateway is resetting the API port: the socket will close."""

CLIENT_ID_IN_USE_CODES = frozenset({326})

ORDER_REJECTED_CODES = frozenset({103, 110, 201, 203, 382, 383, 387, 388, 434, 10318})
"""Errors that mean the broker refused an order outright; any other error on an order that was
never acknowledged counts as a refusal too (see `is_rejection`)."""

ORDER_CANCELED_CODES = frozenset({202})
"""'Order Canceled - reason:': a cancel confirmation, not a refusal."""

INSUFFICIENT_FUNDS_MARKERS = ("insufficient", "margin requirement", "buying power", "equity with loan")
"""Words in a 201 rejection that mean the account cannot afford the order."""

NO_SECURITY_CODES = frozenset({200})

NO_MARKET_DATA_CODES = frozenset({354, 10089, 10090, 10091, 10167, 10168, 10197})
"""No live subscription for this contract: delayed data is the fallback."""

CANCEL_REFUSED_CODES = frozenset({161, 10147, 10148, 10149})
"""Cancel of an order that is unknown or no longer cancelable."""

INFO_CODES = frozenset(range(2100, 2200)) | frozenset({105, 110, 165, 321, 329, 399, 404, 434, 492, 10167})
"""What ib_async itself treats as warnings (wrapper.error): the order stays live."""


def common_status(
    ib_status: str, filled: Decimal, remaining: Decimal | None, why_held: str = "", rejected: bool = False
) -> OrderStatus:
    """The common status of an IB order, with the rules a single table cannot express."""
    if ib_status == "Inactive" and LOCATE_HOLD in why_held.lower():
        return OrderStatus.PENDING
    if ib_status in WORKING_IB_STATUSES and filled > 0 and (remaining is None or remaining > 0):
        return OrderStatus.PARTIAL
    if rejected and ib_status in ("Cancelled", "ApiCancelled", "Inactive") and filled == 0:
        return OrderStatus.REJECTED
    return IB_ORDER_STATUS.get(ib_status, OrderStatus.UNKNOWN)


def is_rejection(code: int) -> bool:
    """An error on an order that means it is not working: not a warning, not a cancel confirmation."""
    if code in ORDER_REJECTED_CODES:
        return True
    return code != 0 and code not in INFO_CODES and code not in ORDER_CANCELED_CODES
