"""Our order types <-> ib_async's Order/Trade/Fill. Pure functions: no I/O, no event loop.

A Trade can be one we placed this session, an open order the gateway re-sent after a
reconnect, or a completed order (which IB sends without an orderId or fills); fills from
reqExecutions complete the picture, so the mapping takes them as an extra argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from ib_async import Fill, Order, Trade, TradeLogEntry

from brokers.ibkr.decimals import to_decimal, to_float
from brokers.ibkr.status import IB_DONE_STATUSES, common_status, ends_order, is_rejection
from brokers.models import OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from brokers.records import BrokerOrder

IB_ORDER_TYPE: dict[OrderType, str] = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
    OrderType.TRAILING_STOP: "TRAIL",
    OrderType.TRAILING_STOP_LIMIT: "TRAIL LIMIT",
    OrderType.MARKET_ON_CLOSE: "MOC",
    OrderType.MARKET_ON_OPEN: "MKT",  # with tif OPG
}
COMMON_ORDER_TYPE: dict[str, OrderType] = {v: k for k, v in IB_ORDER_TYPE.items() if k is not OrderType.MARKET_ON_OPEN}
IB_TIME_IN_FORCE: dict[TimeInForce, str] = {
    TimeInForce.DAY: "DAY",
    TimeInForce.GTC: "GTC",
    TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK",
}
IB_ACTION: dict[OrderSide, str] = {OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"}
VALIDATION_STATUS = "ValidationError"
"""ib_async's own pseudo-status for an order warning; the order's real status is the one before it."""


def build_order(request: OrderRequest, account_id: str, order_ref: str = "") -> Order:
    """The IB order for a request. Floats appear here and nowhere else on the way out."""
    order = Order(
        action=IB_ACTION[request.side],
        totalQuantity=to_float(request.quantity),
        orderType=IB_ORDER_TYPE[request.order_type],
        tif="OPG" if request.order_type is OrderType.MARKET_ON_OPEN else IB_TIME_IN_FORCE[request.time_in_force],
        account=account_id,
        orderRef=order_ref,
        transmit=True,
        outsideRth=request.outside_rth,
    )
    if request.limit_price is not None:
        order.lmtPrice = to_float(request.limit_price)
    if request.stop_price is not None:
        order.auxPrice = to_float(request.stop_price)
    if request.trailing_amount is not None:  # TRAIL / TRAIL LIMIT: auxPrice is the trailing amount
        order.auxPrice = to_float(request.trailing_amount)
    if request.trailing_percent is not None:
        order.trailingPercent = to_float(request.trailing_percent)
    if request.trail_stop_price is not None:
        order.trailStopPrice = to_float(request.trail_stop_price)
    if request.limit_offset is not None:
        order.lmtPriceOffset = to_float(request.limit_offset)
    if request.oca_group is not None:
        order.ocaGroup, order.ocaType = request.oca_group, 1  # 1: cancel the group's other orders on a fill
    return order


def effective_status(trade: Trade) -> str:
    """The order's status as the gateway reported it.

    ib_async also writes statuses of its own into the Trade: 'ValidationError' for a warning, and
    'Cancelled' for any error code outside its short warning list (10349 'TIF set by preset', a
    refused cancel, ...) although the order keeps working. Those are skipped unless the error ended
    the order (a rejection or a cancel confirmation); the last status the gateway sent is the truth.
    """
    for entry in reversed(trade.log):
        if not entry.status or entry.status == VALIDATION_STATUS or _copies_status(entry):
            continue
        if not entry.errorCode or ends_order(entry.errorCode):
            return str(entry.status)
    if trade.log and trade.orderStatus.status in ("Cancelled", VALIDATION_STATUS):
        return ""  # only ib_async's artifacts are known: no status the gateway stands behind
    return trade.orderStatus.status


def _copies_status(entry: TradeLogEntry) -> bool:
    """ib_async's fill and modify entries repeat whatever status the Trade had, artifacts included."""
    return entry.message.startswith("Fill ") or entry.message == "Modify"


def order_error(trade: Trade) -> tuple[int, str] | None:
    """The last rejection IB attached to this order, if any (code, message)."""
    for entry in reversed(trade.log):
        if entry.errorCode and is_rejection(entry.errorCode):
            return entry.errorCode, entry.message
    return None


def is_final(trade: Trade) -> bool:
    """Nothing more can happen to the order: filled, cancelled, or Inactive because IB refused it."""
    status = effective_status(trade)
    return status in IB_DONE_STATUSES or (status == "Inactive" and order_error(trade) is not None)


def perm_id_of(trade: Trade) -> int:
    return int(trade.order.permId or trade.orderStatus.permId or 0)


def contract_label(trade: Trade) -> str | None:
    contract = trade.contract
    if contract.secType in ("FUT", "OPT") and contract.localSymbol:
        return str(contract.localSymbol)
    return contract.symbol or None


def broker_order(
    trade: Trade, extra_fills: Iterable[Fill] = (), *, order_id: int | None = None, completed: bool = False
) -> BrokerOrder:
    """A BrokerOrder snapshot of a Trade (call it on the loop thread: Trades mutate there).

    `completed`: IB listed the order among its completed orders, so an Inactive one is over (refused).
    """
    order, status = trade.order, trade.orderStatus
    fills = {f.execution.execId: f for f in trade.fills}
    perm_id = perm_id_of(trade)
    for fill in extra_fills:
        if fill.execution.permId == perm_id or (order.orderRef and fill.execution.orderRef == order.orderRef):
            fills.setdefault(fill.execution.execId, fill)
    quantity = to_decimal(order.totalQuantity)
    fill_qty = sum((to_decimal(f.execution.shares) or Decimal(0) for f in fills.values()), Decimal(0))
    filled = max(to_decimal(status.filled) or Decimal(0), to_decimal(order.filledQuantity) or Decimal(0), fill_qty)
    reported = (status.filled or 0) + (status.remaining or 0) > 0
    remaining = to_decimal(status.remaining) if reported else None
    if remaining is None and quantity is not None:
        remaining = max(quantity - filled, Decimal(0))
    ib_status = effective_status(trade)
    error = order_error(trade)
    average = to_decimal(status.avgFillPrice) if filled > 0 and status.avgFillPrice else _average(fills.values())
    commissions = [to_decimal(f.commissionReport.commission) for f in fills.values() if f.commissionReport.execId]
    commission = sum((c for c in commissions if c is not None), Decimal(0)) if commissions else None
    oid = order_id or order.orderId or next((f.execution.orderId for f in fills.values()), 0)
    limit = to_decimal(order.lmtPrice) if order.orderType in ("LMT", "STP LMT") else None
    stop = to_decimal(order.auxPrice) if order.orderType in ("STP", "STP LMT") else None
    common_type = _common_type(order)
    return BrokerOrder(
        account_id=order.account,
        brokerage_order_id=str(perm_id) if perm_id else None,
        status=common_status(ib_status, filled, remaining, status.whyHeld or "",
                             rejected=error is not None or (completed and ib_status == "Inactive")),
        raw_status=ib_status or None,
        client_order_ref=order.orderRef or None,
        ticker=contract_label(trade),
        side=OrderSide(order.action) if order.action in ("BUY", "SELL") else None,
        order_type=common_type.value if common_type else order.orderType or None,
        quantity=quantity,
        filled_quantity=filled,
        remaining_quantity=remaining,
        average_fill_price=average,
        limit_price=limit,
        stop_price=stop,
        commission=commission,
        placed_at=trade.log[0].time if trade.log and trade.log[0].time.year > 1 else None,
        message=error[1] if error else None,
        raw=_raw(trade, ib_status, perm_id, oid, fills.values(), error),
    )


def _common_type(order: Order) -> OrderType | None:
    if order.tif == "OPG" and order.orderType == "MKT":
        return OrderType.MARKET_ON_OPEN
    return COMMON_ORDER_TYPE.get(order.orderType)


def order_from_fills(fills: list[Fill], request: OrderRequest, account_id: str) -> BrokerOrder:
    """When IB only has executions for a ref (the order itself aged out): filled is filled."""
    shares = sum((to_decimal(f.execution.shares) or Decimal(0) for f in fills), Decimal(0))
    first = fills[0].execution
    commissions = [to_decimal(f.commissionReport.commission) for f in fills if f.commissionReport.execId]
    return BrokerOrder(
        account_id=first.acctNumber or account_id,
        brokerage_order_id=str(first.permId) if first.permId else None,
        status=OrderStatus.EXECUTED if shares >= request.quantity else OrderStatus.PARTIAL,
        raw_status="Executions",
        client_order_ref=first.orderRef or None,
        ticker=request.ticker,
        side=request.side,
        order_type=request.order_type.value,
        quantity=request.quantity,
        filled_quantity=shares,
        remaining_quantity=max(request.quantity - shares, Decimal(0)),
        average_fill_price=_average(fills),
        commission=sum((c for c in commissions if c is not None), Decimal(0)) if commissions else None,
        raw={"order_id": first.orderId, "perm_id": first.permId, "client_id": first.clientId,
             "source": "executions", "fills": [_fill(f) for f in fills]},
    )


def _average(fills: Iterable[Fill]) -> Decimal | None:
    total = Decimal(0)
    shares = Decimal(0)
    for fill in fills:
        qty = to_decimal(fill.execution.shares) or Decimal(0)
        price = to_decimal(fill.execution.price) or Decimal(0)
        total += qty * price
        shares += qty
    return total / shares if shares else None


def _fill(fill: Fill) -> dict[str, Any]:
    execution, report = fill.execution, fill.commissionReport
    return {
        "exec_id": execution.execId,
        "time": execution.time.isoformat() if isinstance(execution.time, datetime) else str(execution.time),
        "shares": str(to_decimal(execution.shares)),
        "price": str(to_decimal(execution.price)),
        "exchange": execution.exchange,
        "commission": str(to_decimal(report.commission)) if report.execId else None,
    }


def _raw(
    trade: Trade, ib_status: str, perm_id: int, order_id: int, fills: Iterable[Fill], error: tuple[int, str] | None
) -> dict[str, Any]:
    contract = trade.contract
    return {
        "order_id": order_id or None,
        "perm_id": perm_id or None,
        "client_id": trade.order.clientId or trade.orderStatus.clientId or None,
        "ib_status": ib_status,
        "why_held": trade.orderStatus.whyHeld or None,
        "con_id": contract.conId or None,
        "sec_type": contract.secType or None,
        "local_symbol": contract.localSymbol or None,
        "exchange": contract.exchange or None,
        "tif": trade.order.tif or None,
        "outside_rth": bool(trade.order.outsideRth),
        "oca_group": trade.order.ocaGroup or None,
        "trail_stop_price": _text(to_decimal(trade.order.trailStopPrice)),
        "trailing_percent": _text(to_decimal(trade.order.trailingPercent)),
        "error": {"code": error[0], "message": error[1]} if error else None,
        "fills": [_fill(f) for f in fills],
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
