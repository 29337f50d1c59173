"""The bracket execute on the IB Gateway simulator, by the method of the single execute (ibkr_figures).

execute_trade of a bracket preview (entry + take-profit + stop-loss: one intent for three rows, three
placeOrders, every leg acknowledged) against raw ib_async placing the same parent and two children with
parentId, one OCA group and transmit semantics, until all three are acknowledged. Subject and baseline
calls alternate. The single execute (same gateway, same method) is measured alongside for the ratio a
bracket costs over one order.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

from bench.context import BenchContext
from bench.ibkr_figures import (
    ACCOUNT,
    FIRST_STATUSES,
    TICKER,
    RawIB,
    _missing,
    _resting_price,
    latency_rows,
    not_available,
)
from bench.stats import Summary, compare, interleaved, rounded

SERVICE_CLIENT, RAW_CLIENT = 34, 35


class RawBracket(RawIB):
    """The baseline: a bare ib_async bracket (parent transmit=False, children with parentId, last transmits)."""

    def place_bracket(self, price: Decimal) -> None:
        from ib_async import LimitOrder, StopOrder

        async def until_all_acknowledged() -> None:
            ref = f"raw-{uuid.uuid4().hex[:12]}"
            parent = LimitOrder("BUY", 1, float(price), account=ACCOUNT, tif="GTC", orderRef=ref, transmit=False)
            parent.orderId = self.ib.client.getReqId()
            exits = [LimitOrder("SELL", 1, float(price * Decimal("1.2")), account=ACCOUNT, tif="GTC",
                                orderRef=f"{ref}-tp", transmit=False),
                     StopOrder("SELL", 1, float(price * Decimal("0.8")), account=ACCOUNT, tif="GTC",
                               orderRef=f"{ref}-sl", transmit=True)]
            trades = [self.ib.placeOrder(self.contract, parent)]
            for child in exits:
                child.parentId, child.ocaGroup, child.ocaType = parent.orderId, f"{ref}-oca", 1
                trades.append(self.ib.placeOrder(self.contract, child))
            changed = asyncio.Event()
            for trade in trades:
                trade.statusEvent += lambda *_: changed.set()
            while any(t.orderStatus.status not in FIRST_STATUSES for t in trades):
                changed.clear()
                await asyncio.wait_for(changed.wait(), 10)

        self.thread.run(until_all_acknowledged)


def bracket(ctx: BenchContext) -> dict[str, Any]:
    """Bracket execute vs raw ib_async bracket, and vs the single execute."""
    missing = _missing()
    if missing:
        return not_available(missing)
    from brokers.ibkr.adapter import IBKRBrokerAdapter
    from brokers.ibkr.connection import IBKRConnectionManager
    from simulators.ib_gateway import IBGatewaySimulator

    ctx.truncate()
    calls = ctx.n(15, 150)
    with IBGatewaySimulator(accounts=(ACCOUNT,), starting_cash=Decimal("1000000000"), farm_notices=False) as sim:
        price = _resting_price(sim.get_price(TICKER))
        tp, sl = str(price * Decimal("1.2")), str(price * Decimal("0.8"))
        manager = IBKRConnectionManager("127.0.0.1", sim.port, SERVICE_CLIENT, request_timeout=15.0)
        adapter = IBKRBrokerAdapter(manager, owns_manager=True)
        raw = RawBracket(sim.port, RAW_CLIENT)
        try:
            with ctx.service([adapter]) as service:
                brackets = [service.preview_trade(ACCOUNT, TICKER, "BUY", Decimal(1), "Limit", price, None, "GTC",
                                                  take_profit_price=tp, stop_loss_price=sl).preview_id
                            for _ in range(calls + 2)]
                singles = [service.preview_trade(ACCOUNT, TICKER, "BUY", Decimal(1), "Limit", price).preview_id
                           for _ in range(calls + 2)]
                executes = interleaved({
                    "bracket": lambda: service.execute_trade(brackets.pop()),
                    "raw": lambda: raw.place_bracket(price),
                    "single": lambda: service.execute_trade(singles.pop()),
                }, calls)
        finally:
            raw.close()
    vs_raw = compare(Summary.of(executes["bracket"]), Summary.of(executes["raw"]))
    vs_single = compare(Summary.of(executes["bracket"]), Summary.of(executes["single"]))
    return {
        "title": "Bracket execute on the IB Gateway simulator: service vs raw ib_async bracket (interleaved)",
        "measured": True,
        "execute_bracket": vs_raw,
        "bracket_over_single": vs_single,
        "rows": [
            *latency_rows("bracket execute_trade vs raw parent+2 children until acknowledged", vs_raw),
            {"metric": "bracket execute_trade vs single execute_trade: p50 ms",
             "value": vs_single["subject"]["p50_ms"], "baseline": vs_single["baseline"]["p50_ms"],
             "ratio": rounded(vs_single["ratio_p50"])},
        ],
    }
