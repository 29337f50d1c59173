"""Order and execution records, and the decoding of the client's placeOrder message.

placeOrder has no version field and a variable layout (combo legs, delta-neutral, scale,
hedge and algo blocks appear only when used), so it is read with a cursor in exactly the
order ib_async 2.1.0 writes it (client.py ``placeOrder``). Only the fields up to ``whatIf``
matter to the simulator; the tail (conditions, adjusted-order and version-gated fields) is
ignored.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .instruments import ContractQuery, Instrument
from .wire import FieldReader, parse_decimal

ZERO = Decimal(0)
ACTIVE_STATUSES = frozenset({"PreSubmitted", "Submitted"})
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
_UNSET_FLOAT = 1.7976931348623157e308


@dataclass
class OrderRequest:
    order_id: int
    contract: ContractQuery
    action: str
    quantity: Decimal | None
    order_type: str
    lmt_price: Decimal | None
    aux_price: Decimal | None
    tif: str
    oca_group: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    good_till_date: str = ""
    what_if: bool = False
    trail_stop_price: Decimal | None = None
    trailing_percent: Decimal | None = None
    lmt_price_offset: Decimal | None = None
    oca_type: int = 0


def parse_place_order(fields: list[str], server_version: int) -> OrderRequest:
    """Decode a placeOrder message; raises IndexError/ValueError on a malformed one."""
    r = FieldReader(fields, 1)
    order_id = r.integer()
    contract = ContractQuery.read(r)
    r.skip(2)  # secIdType, secId
    action, quantity, order_type = r.text().upper(), r.number(), r.text().upper()
    lmt_price, aux_price, tif = r.number(), r.number(), r.text().upper()
    oca_group, account, _open_close, _origin, order_ref = (r.text() for _ in range(5))
    transmit_text = r.text()
    transmit = transmit_text != "0"
    parent_id = r.integer()
    r.skip(5)  # blockOrder, sweepToFill, displaySize, triggerMethod, outsideRth
    outside_rth = fields[r.pos - 1] == "1"
    r.skip(1)  # hidden
    if contract.sec_type.upper() == "BAG":
        r.skip(r.integer() * 8)
        r.skip(r.integer())
        r.skip(r.integer() * 2)
    r.skip(3)  # "", discretionaryAmt, goodAfterTime
    good_till_date = r.text()
    r.skip(3)  # faGroup, faMethod, faPercentage
    if server_version < 177:
        r.skip(1)  # faProfile
    r.skip(4)  # modelCode, shortSaleSlot, designatedLocation, exemptCode
    oca_type_text = r.text()
    oca_type = int(oca_type_text) if oca_type_text.lstrip("-").isdigit() else 0
    r.skip(17)  # rule80A .. volatilityType
    if r.text():  # deltaNeutralOrderType
        r.skip(9)  # deltaNeutralAuxPrice + 8 delta-neutral fields
    else:
        r.skip(1)  # deltaNeutralAuxPrice
    r.skip(2)  # continuousUpdate, referencePriceType
    trail_stop_price, trailing_percent = r.number(), r.number()
    r.skip(2)  # scaleInitLevelSize, scaleSubsLevelSize
    increment = parse_decimal(r.text())
    if increment is not None and increment > 0:
        r.skip(7)
    r.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if r.text():  # hedgeType
        r.skip(1)
    r.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if r.text() == "1":  # delta-neutral contract present
        r.skip(3)
    if r.text():  # algoStrategy
        r.skip(r.integer() * 2)
    r.skip(1)  # algoId
    what_if = r.flag()
    lmt_price_offset = _limit_offset(r, order_type)
    return OrderRequest(
        order_id=order_id, contract=contract, action=action, quantity=quantity,
        order_type=order_type, lmt_price=lmt_price, aux_price=aux_price, tif=tif or "DAY",
        oca_group=oca_group, account=account, order_ref=order_ref, transmit=transmit,
        parent_id=parent_id, outside_rth=outside_rth, good_till_date=good_till_date,
        what_if=what_if, trail_stop_price=trail_stop_price, trailing_percent=trailing_percent,
        lmt_price_offset=lmt_price_offset, oca_type=oca_type,
    )


def _limit_offset(r: FieldReader, order_type: str) -> Decimal | None:
    """lmtPriceOffset (TRAIL LIMIT), which ib_async writes after the order conditions."""
    try:
        r.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
        if order_type in ("PEG BENCH", "PEGBENCH"):
            r.skip(5)
        if r.integer():
            return None  # conditions are not decoded, so neither is what follows them
        r.skip(2)  # adjustedOrderType, triggerPrice
        return r.number()
    except IndexError:
        return None


@dataclass
class OrderRecord:
    order_id: int
    client_id: int
    perm_id: int
    account: str
    instrument: Instrument
    action: str
    quantity: Decimal
    order_type: str
    lmt_price: Decimal | None
    aux_price: Decimal | None
    tif: str
    order_ref: str
    outside_rth: bool = False
    oca_group: str = ""
    trailing_percent: Decimal | None = None
    trail_stop: Decimal | None = None
    """TRAIL / TRAIL LIMIT: the current stop, moved with the price (aux_price is the trailing amount)."""
    lmt_price_offset: Decimal | None = None
    oca_type: int = 0
    parent_id: int = 0
    """An attached (child) order: it works only once this parent order of the same client has filled."""
    transmitted: bool = True
    """False while the order waits, untransmitted, for the set's last order (transmit=True)."""
    held: bool = False
    """A child whose parent has not filled yet: listed PreSubmitted, never matched."""
    status: str = "PendingSubmit"
    filled: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    last_fill_price: Decimal = ZERO
    commission: Decimal = ZERO
    triggered: bool = False
    fill_pending: bool = False
    reject_reason: str = ""
    created_at: float = field(default_factory=time.time)
    completed_at: float | None = None
    executions: list[ExecutionRecord] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def sign(self) -> int:
        return 1 if self.action == "BUY" else -1

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def is_stop(self) -> bool:
        """Waits (PreSubmitted) for a trigger: stops, trailing stops, and auction orders (MOC, OPG)."""
        return self.order_type in ("STP", "STP LMT", "TRAIL", "TRAIL LIMIT", "MOC") or self.tif == "OPG"

    @property
    def is_trailing(self) -> bool:
        return self.order_type in ("TRAIL", "TRAIL LIMIT")

    @property
    def at_auction(self) -> str | None:
        """'close' for MOC, 'open' for OPG orders: they fill only in that auction."""
        return "close" if self.order_type == "MOC" else "open" if self.tif == "OPG" else None

    def snapshot(self) -> OrderSnapshot:
        inst = self.instrument
        return OrderSnapshot(
            order_id=self.order_id, perm_id=self.perm_id, client_id=self.client_id,
            account=self.account, symbol=inst.symbol, local_symbol=inst.local_symbol,
            con_id=inst.con_id, sec_type=inst.sec_type, action=self.action, quantity=self.quantity,
            order_type=self.order_type, lmt_price=self.lmt_price, aux_price=self.aux_price,
            tif=self.tif, order_ref=self.order_ref, status=self.status, filled=self.filled,
            remaining=self.remaining, avg_fill_price=self.avg_fill_price,
            commission=self.commission, reject_reason=self.reject_reason, parent_id=self.parent_id,
            oca_group=self.oca_group, oca_type=self.oca_type, trailing_percent=self.trailing_percent,
        )


@dataclass
class ExecutionRecord:
    exec_id: str
    order: OrderRecord
    quantity: Decimal
    price: Decimal
    time: float
    cum_qty: Decimal
    avg_price: Decimal
    commission: Decimal
    realized_pnl: Decimal | None

    @property
    def side(self) -> str:
        return "BOT" if self.order.action == "BUY" else "SLD"

    def snapshot(self) -> ExecutionSnapshot:
        o = self.order
        return ExecutionSnapshot(
            exec_id=self.exec_id, order_id=o.order_id, perm_id=o.perm_id, client_id=o.client_id,
            account=o.account, symbol=o.instrument.symbol, con_id=o.instrument.con_id,
            side=self.side, quantity=self.quantity, price=self.price, cum_qty=self.cum_qty,
            avg_price=self.avg_price, commission=self.commission, realized_pnl=self.realized_pnl,
            order_ref=o.order_ref, time=self.time,
        )


class _AsDict:
    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class OrderSnapshot(_AsDict):
    """An order as the simulator's book holds it (a copy; later changes do not show)."""

    order_id: int
    perm_id: int
    client_id: int
    account: str
    symbol: str
    local_symbol: str
    con_id: int
    sec_type: str
    action: str
    quantity: Decimal
    order_type: str
    lmt_price: Decimal | None
    aux_price: Decimal | None
    tif: str
    order_ref: str
    status: str
    filled: Decimal
    remaining: Decimal
    avg_fill_price: Decimal
    commission: Decimal
    reject_reason: str
    parent_id: int = 0
    oca_group: str = ""
    oca_type: int = 0
    trailing_percent: Decimal | None = None


@dataclass(frozen=True)
class ExecutionSnapshot(_AsDict):
    exec_id: str
    order_id: int
    perm_id: int
    client_id: int
    account: str
    symbol: str
    con_id: int
    side: str
    quantity: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    commission: Decimal
    realized_pnl: Decimal | None
    order_ref: str
    time: float
