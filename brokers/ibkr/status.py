"""IB order statuses and error codes, each in one table.

Keeping the mapping in one place means a new IB status or code is one edit, and the
adapter, the connection manager and the tests all agree on what a code means.

Where the codes come from: IB's TWS API "Message Codes" reference
(https://interactivebrokers.github.io/tws-api/message_codes.html, republished at
https://ibkrcampus.com/campus/ibkr-api-page/twsapi-doc/#api-error-codes), which lists every code
with its text; what ib_async 2.1.0 does with each one is in its `wrapper.error`. Each code is in
exactly ONE set below (a test checks that they are disjoint), so "is this a rejection?" has one answer.
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
    "Inactive": OrderStatus.PENDING,  # REJECTED only with a rejection code (see common_status)
}
"""IB status -> common status. Anything not listed maps to UNKNOWN, which never moves a row."""

WORKING_IB_STATUSES = frozenset({"PendingSubmit", "PreSubmitted", "Submitted", "ApiUpdate", "PendingCancel"})
"""Statuses in which a partial fill makes the order PARTIAL."""

ACKNOWLEDGED_IB_STATUSES = frozenset(IB_ORDER_STATUS) - {"ApiPending", "PendingSubmit"}
"""Statuses that prove the gateway received a placement."""

IB_DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled"})
"""Statuses after which nothing can happen to the order. `Inactive` is not one: real gateways send
a temporary Inactive before Submitted, and an order held for a locate is Inactive while it waits."""

LOCATE_HOLD = "locate"
"""whyHeld value of an Inactive short sale waiting for shares to borrow: held, not rejected."""

# --- error codes, grouped by what they mean to us (disjoint sets) -----------------------------
CONNECTION_LOST_CODES = frozenset({1100, 2110})
"""1100 'Connectivity between IB and TWS has been lost'; 2110 'Connectivity between TWS and server is
broken': the gateway lost IB's servers, the socket to the gateway may still be up."""

CONNECTION_RESTORED_CODES = frozenset({1101, 1102})
"""1101 'restored - data lost', 1102 'restored - data maintained'."""

SOCKET_RESET_CODES = frozenset({1300})
"""'TWS socket port has been reset and this connection is being dropped'."""

CLIENT_ID_IN_USE_CODES = frozenset({326})
"""'Unable to connect as the client id is already in use'."""

ORDER_REJECTED_CODES = frozenset({
    103,  # Duplicate order id
    106,  # Can't transmit order ID
    107,  # Cannot transmit incomplete order
    109,  # Price is out of the range defined by the Percentage setting; the order will not be transmitted
    110,  # The price does not conform to the minimum price variation for this contract
    111,  # The TIF and the order type are incompatible
    113,  # The TIF should be set to DAY for MOC and LOC orders
    116,  # The order cannot be transmitted to a dead exchange
    117,  # The block order size must be at least 50
    132,  # This order cannot be transmitted without a clearing account
    133,  # Submit new order failed
    154,  # Orders cannot be transmitted for a halted security
    163,  # The price would violate the percentage constraint of the default order settings
    201,  # Order rejected - Reason: ...
    203,  # The security is not available or allowed for this account
    382,  # The size of the order violates the size constraint
    383,  # The size of the order exceeds the maximum size allowed
    387,  # Unsupported order type for this exchange and security type
    388,  # Order size is smaller than the minimum requirement
    434,  # The order size cannot be zero
})
"""Errors that mean IB refused the order: the order is not working. Only these (and a cancel
confirmation) let ib_async's own `Cancelled` stand; ib_async 2.1.0 also sets Cancelled for every
other code outside its short warning list, and that is ignored here (see `ends_order`).
110 and 434 are warnings to ib_async when they answer a modification; this module never modifies
an order, so for it they answer a placement, which they refuse."""

ORDER_CANCELED_CODES = frozenset({202})
"""'Order Canceled - reason:': a cancel confirmation, not a refusal."""

ORDER_WARNING_CODES = frozenset({
    105,  # Order being modified does not match the original order (the original keeps working)
    329,  # Order modify failed: cannot change to the new order type (the original keeps working)
    399,  # Order message error: a warning such as 'will not be placed at the exchange until ...'
    404,  # Shares are not immediately available for short sale: the order is held while IB locates them
    10349,  # Order TIF was set to DAY based on order preset (reported against ib_async as issues 191, 217)
})
"""Messages about an order that stays live. ib_async 2.1.0 marks an order Cancelled on 10349 (it
is not in its warning list): the order's state comes from the gateway's orderStatus, not from that."""

MODIFY_REFUSED_CODES = frozenset({104})
"""104 "Can't modify a filled order": the answer to a modification (placeOrder with a live orderId)."""
CANCEL_REFUSED_CODES = frozenset({161, 10147, 10148, 10149})
"""161 'Cancel attempted when order is not in a cancellable state', 10147 'OrderId ... that needs to be
cancelled is not found', 10148 '... can not be cancelled, state: ...', 10149 'Invalid order id'."""

REQUEST_ERROR_CODES = frozenset({320, 321, 322})
"""'Server error when reading / validating / processing an API client request'. For a placement
they prove nothing either way: the state comes from the gateway's orderStatus (or reconciliation)."""

NO_SECURITY_CODES = frozenset({200})
"""'No security definition has been found for the request'."""

NO_MARKET_DATA_CODES = frozenset({354, 10089, 10090, 10091, 10167, 10168, 10197})
"""No live subscription for this contract: delayed data is the fallback."""

INFORMATIONAL_CODES = frozenset(range(2100, 2200)) - CONNECTION_LOST_CODES | frozenset({165})
"""21xx: data-farm status and other notices ('Market data farm connection is OK', 2109 'Outside
Regular Trading Hours attribute ignored', ...); 165: historical data service query message."""

CODE_SETS: dict[str, frozenset[int]] = {
    "connection_lost": CONNECTION_LOST_CODES, "connection_restored": CONNECTION_RESTORED_CODES,
    "socket_reset": SOCKET_RESET_CODES, "client_id_in_use": CLIENT_ID_IN_USE_CODES,
    "order_rejected": ORDER_REJECTED_CODES, "order_canceled": ORDER_CANCELED_CODES,
    "order_warning": ORDER_WARNING_CODES, "cancel_refused": CANCEL_REFUSED_CODES,
    "modify_refused": MODIFY_REFUSED_CODES,
    "request_error": REQUEST_ERROR_CODES, "no_security": NO_SECURITY_CODES,
    "no_market_data": NO_MARKET_DATA_CODES, "informational": INFORMATIONAL_CODES,
}
"""Every named set, for the disjointness test and for logs that say which kind a code is."""

NOT_A_PROBLEM_CODES = INFORMATIONAL_CODES | ORDER_WARNING_CODES | NO_MARKET_DATA_CODES
"""Messages that never count as the connection's 'last error'."""

INSUFFICIENT_FUNDS_MARKERS = ("insufficient", "margin requirement", "buying power", "equity with loan")
"""Words in a 201 rejection that mean the account cannot afford the order."""


def is_rejection(code: int) -> bool:
    """An error that means IB refused the order (it is not working)."""
    return code in ORDER_REJECTED_CODES


def ends_order(code: int) -> bool:
    """An error after which ib_async's `Cancelled` is the truth: a refusal or a cancel confirmation."""
    return code in ORDER_REJECTED_CODES or code in ORDER_CANCELED_CODES


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
