"""Server-to-client message builders, one function per message, field orders per server version.

Field orders follow ib_async 2.1.0's decoder.py; handlers that unpack an exact number of
fields (tickPrice, commissionReport, position, portfolio) silently drop a message with one
field too many or too few, so the counts here are deliberate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from .accounts import Position, mark_price, money
from .instruments import Instrument
from .orders import ExecutionRecord, OrderRecord
from .wire import UNSET_DOUBLE_TEXT, fmt_decimal, fmt_optional

_UNSET_STATE = (UNSET_DOUBLE_TEXT,) * 9 + (UNSET_DOUBLE_TEXT,) * 3 + ("", "")


@dataclass(frozen=True)
class MarginImpact:
    """What a whatIf order answers: margins before/change/after, equity with loan, commission."""

    init_before: Decimal
    maint_before: Decimal
    ewl_before: Decimal
    init_after: Decimal
    maint_after: Decimal
    ewl_after: Decimal
    commission: Decimal
    commission_currency: str = "USD"

    def state_fields(self) -> tuple[str, ...]:
        values = (
            self.init_before, self.maint_before, self.ewl_before,
            self.init_after - self.init_before, self.maint_after - self.maint_before,
            self.ewl_after - self.ewl_before, self.init_after, self.maint_after, self.ewl_after,
        )
        commission = fmt_decimal(self.commission)
        return (*(str(money(v)) for v in values), commission, commission, commission, self.commission_currency, "")


def ib_time(epoch: float) -> str:
    """Timestamps with an explicit zone, so ib_async never guesses the local zone."""
    return time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime(epoch))


def error(server_version: int, req_id: int, code: int, message: str) -> list[str]:
    fields = ["4", "2", str(req_id), str(code), message]
    if server_version >= 166:
        fields.append("")  # advancedOrderRejectJson
    return fields


def _contract11(inst: Instrument, exchange: str) -> list[str]:
    return [
        str(inst.con_id), inst.symbol, inst.sec_type, inst.last_trade_date, fmt_decimal(inst.strike),
        inst.right, inst.multiplier, exchange, inst.currency, inst.local_symbol, inst.trading_class,
    ]


def _order_middle(server_version: int) -> tuple[list[str], list[str]]:
    """Constant openOrder stretches, split around the whatIf/status block."""
    head = [""] if server_version < 177 else []  # faProfile
    head += [
        "", "", "", "", "", "0", "", "-1", "0", "", "", "", "", "",  # modelCode .. stockRangeUpper
        "0", "0", "0", "0", "", "0", "0", "0", "", "0", "0", "", "", "", "",  # displaySize .. dnAux
        "0", "", "", "", "", "", "", "0", "0", "0", "", "", "", "",  # continuousUpdate .. hedgeType
        "0", "", "", "0", "0", "",  # optOutSmartRouting .. algoStrategy
        "0",  # solicited
    ]
    tail = ["0", "0", "0"]  # randomizeSize, randomizePrice, nConditions
    tail += ["", "", "", "", "", "", "", "0", "", "", "", "", "0", "0", "0", "0"]
    if server_version >= 159:
        tail.append("")  # duration
    if server_version >= 160:
        tail.append("")  # postToAts
    if server_version >= 162:
        tail.append("0")  # autoCancelParent
    if server_version >= 170:
        tail += ["", "", "", "", ""]
    return head, tail


_MIDDLE_CACHE: dict[int, tuple[list[str], list[str]]] = {}


def open_order(o: OrderRecord, server_version: int, impact: MarginImpact | None = None) -> list[str]:
    middle = _MIDDLE_CACHE.get(server_version)
    if middle is None:
        middle = _MIDDLE_CACHE[server_version] = _order_middle(server_version)
    head, tail = middle
    inst = o.instrument
    fields = ["5", str(o.order_id), *_contract11(inst, inst.exchange)]
    fields += [
        o.action, fmt_decimal(o.quantity), o.order_type, fmt_optional(o.lmt_price),
        fmt_optional(o.aux_price), o.tif, o.oca_group, o.account, "O", "0", o.order_ref, str(o.client_id),
        str(o.perm_id), "1" if o.outside_rth else "0", "0", "0", "", "", "", "", "",
    ]
    fields += _with_trailing(head, o, server_version) if o.is_trailing else head
    if o.parent_id or o.oca_type:
        fields[-len(head):] = _with_set(fields[-len(head):], o, server_version)
    if impact is not None:
        fields += ["1", "PreSubmitted", *impact.state_fields()]
    else:
        state = list(_UNSET_STATE)
        if o.is_done and o.commission:
            state[9] = fmt_decimal(o.commission)
            state[12] = o.instrument.currency
        fields += ["0", o.status, *state]
    if o.is_trailing:  # tail: randomize x2, nConditions, adjustedOrderType, triggerPrice, trailStopPrice, offset
        tail = list(tail)
        tail[5], tail[6] = fmt_optional(o.trail_stop), fmt_optional(o.lmt_price_offset)
    fields += tail
    return fields


def _with_trailing(head: list[str], o: OrderRecord, server_version: int) -> list[str]:
    """The constant head with trailStopPrice and trailingPercent filled in."""
    at = 31 if server_version >= 177 else 32  # after continuousUpdate, referencePriceType
    head = list(head)
    head[at] = fmt_optional(o.trail_stop)
    head[at + 1] = fmt_optional(o.trailing_percent)
    return head


def _with_set(head: list[str], o: OrderRecord, server_version: int) -> list[str]:
    """ocaType and parentId (a bracket's child), at their places after modelCode .. stockRangeUpper."""
    start = 1 if server_version < 177 else 0  # faProfile
    head = list(head)
    head[start + 19] = str(o.oca_type)
    head[start + 23] = str(o.parent_id)
    return head


def order_status(o: OrderRecord) -> list[str]:
    return [
        "3", str(o.order_id), o.status, fmt_decimal(o.filled), fmt_decimal(o.remaining),
        fmt_decimal(o.avg_fill_price), str(o.perm_id), str(o.parent_id), fmt_decimal(o.last_fill_price),
        str(o.client_id), "", "0",
    ]


def exec_details(server_version: int, req_id: int, e: ExecutionRecord) -> list[str]:
    o = e.order
    inst = o.instrument
    fields = [
        "11", str(req_id), str(o.order_id), *_contract11(inst, inst.exec_exchange), e.exec_id,
        ib_time(e.time), o.account, inst.exec_exchange, e.side, fmt_decimal(e.quantity),
        fmt_decimal(e.price), str(o.perm_id), str(o.client_id), "0", fmt_decimal(e.cum_qty),
        fmt_decimal(e.avg_price), o.order_ref, "", "", "", "1",
    ]
    if server_version >= 178:
        fields.append("0")  # pendingPriceRevision
    return fields


def commission_report(e: ExecutionRecord) -> list[str]:
    pnl = UNSET_DOUBLE_TEXT if e.realized_pnl is None else fmt_decimal(money(e.realized_pnl))
    return ["59", "1", e.exec_id, fmt_decimal(e.commission), e.order.instrument.currency, pnl, UNSET_DOUBLE_TEXT, ""]


def completed_order(o: OrderRecord, server_version: int) -> list[str]:
    inst = o.instrument
    fields = ["101", *_contract11(inst, inst.exchange)]
    fields += [
        o.action, fmt_decimal(o.quantity), o.order_type, fmt_optional(o.lmt_price),
        fmt_optional(o.aux_price), o.tif, "", o.account, "O", "0", o.order_ref, str(o.perm_id),
        "1" if o.outside_rth else "0", "0", "0", "", "", "", "",
    ]
    if server_version < 177:
        fields.append("")  # faProfile
    fields += [
        "", "", "", "", "", "0", "", "-1", "", "", "", "", "", "0", "0", "0", "", "0", "0", "", "",
        "", "",  # modelCode .. deltaNeutralAuxPrice
        "0", "", "", "", "", "0", "0", "0", "", "", "", "",  # continuousUpdate .. hedgeType
        "", "", "0", "0", "",  # clearingAccount .. algoStrategy
        "0", o.status, "0", "0", "0",  # solicited, status, randomize x2, nConditions
        "", "", "", "0", "0", "", fmt_decimal(o.filled), "0", "0", "", "0", "0", "0",
        ib_time(o.completed_at or o.created_at), o.reject_reason or o.status,
    ]
    if server_version >= 170:
        fields += ["", "", "", "", ""]
    return fields


def contract_data(server_version: int, req_id: int, inst: Instrument, exchange: str, sec_type: str = "") -> list[str]:
    fields = ["10", "8", str(req_id)] if server_version < 164 else ["10", str(req_id)]
    fields += [
        inst.symbol, sec_type or inst.sec_type, inst.last_trade_date, fmt_decimal(inst.strike), inst.right,
        exchange, inst.currency, inst.local_symbol, inst.trading_class, inst.trading_class,
        str(inst.con_id), fmt_decimal(inst.min_tick),
    ]
    if server_version < 164:
        fields.append("1")  # mdSizeMultiplier
    day = time.strftime("%Y%m%d")
    hours = f"{day}:0930-{day}:1600"
    fields += [
        inst.multiplier, "DAY,FOK,GTC,IOC,LMT,MKT,STP,STPLMT,WHATIF", ",".join(inst.valid_exchanges),
        "1", str(inst.under_con_id), inst.long_name, inst.primary_exchange,
        inst.contract_month, inst.industry, inst.category, "", "US/Eastern", hours, hours, "", "",
        "0",  # nSecIds
        "1", inst.under_symbol, inst.under_sec_type, "26", inst.last_trade_date, inst.stock_type,
    ]
    if server_version == 163:
        fields.append("1")
    elif server_version >= 164:
        fields += ["1", "1", "1"]
    return fields


def position(account: str, pos: Position) -> list[str]:
    inst = pos.instrument
    return [
        "61", "3", account, *_contract11(inst, ""), fmt_decimal(pos.quantity), fmt_decimal(pos.avg_cost),
    ]


def position_multi(req_id: int, account: str, pos: Position) -> list[str]:
    inst = pos.instrument
    return [
        "71", "1", str(req_id), account, *_contract11(inst, ""), fmt_decimal(pos.quantity),
        fmt_decimal(pos.avg_cost), "",
    ]


def portfolio(account: str, pos: Position) -> list[str]:
    inst = pos.instrument
    c = _contract11(inst, inst.primary_exchange)  # portfolio sends primaryExchange in place of exchange
    return [
        "7", "8", *c, fmt_decimal(pos.quantity), fmt_decimal(mark_price(inst)),
        fmt_decimal(money(pos.market_value())), fmt_decimal(pos.avg_cost),
        fmt_decimal(money(pos.unrealized_pnl())), fmt_decimal(money(pos.realized_pnl)), account,
    ]


def tick_prices(req_id: int, inst: Instrument, delayed: bool) -> list[list[str]]:
    """bid/ask/last/close ticks (their delayed variants for market data types 3/4)."""
    quote = inst.quote
    types = (66, 67, 68, 75) if delayed else (1, 2, 4, 9)
    size = fmt_decimal(inst.quote_size)
    result = []
    for tick_type, price, tick_size in zip(
        types, (quote.bid, quote.ask, quote.last, quote.close), (size, size, size, "0"), strict=True
    ):
        if price is not None:
            result.append(["1", "6", str(req_id), str(tick_type), fmt_decimal(price), tick_size, "0"])
    return result


def symbol_samples(server_version: int, req_id: int, instruments: list[Instrument]) -> list[str]:
    fields = ["79", str(req_id), str(len(instruments))]
    for inst in instruments:
        derivatives = ["OPT"] if inst.symbol == "SPY" else []
        fields += [
            str(inst.con_id), inst.symbol, inst.sec_type, inst.primary_exchange or inst.exchange,
            inst.currency, str(len(derivatives)), *derivatives,
        ]
        if server_version >= 176:
            fields += [inst.long_name, ""]
    return fields
