"""IBKR figures on the IB Gateway simulator: the service against raw ib_async, same gateway.

preview: TradeExecutionService.preview_trade vs raw whatIfOrder + a market-data snapshot
(what the adapter itself asks the gateway for). execute: execute_trade until the broker's
first status vs raw placeOrder until the order is acknowledged (Submitted). connections:
TCP connects the gateway sees over many previews (must be 1: one long-lived connection).
Subject and baseline calls alternate, so background load hits both alike.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import uuid
from collections import Counter
from decimal import ROUND_DOWN, Decimal
from typing import Any

from bench.context import BenchContext
from bench.loop_thread import LoopThread
from bench.stats import Summary, compare, interleaved, rounded, timed

ACCOUNT = "DU7654321"
TICKER = "AAPL"
SERVICE_CLIENT, RAW_CLIENT, CONNECTS_CLIENT = 31, 32, 33
FIRST_STATUSES = frozenset({"PreSubmitted", "Submitted", "Filled", "Cancelled", "ApiCancelled", "Inactive"})


def not_available(reason: str) -> dict[str, Any]:
    return {"measured": False, "reason": reason}


def _missing() -> str | None:
    """Why the IBKR figures cannot run (a piece has not landed), or None."""
    for module in ("brokers.ibkr.adapter", "brokers.ibkr.connection", "simulators.ib_gateway"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return f"not measured: {module} not available ({exc})"
    return None


class RawIB:
    """A bare ib_async client on its own loop thread: the baseline."""

    def __init__(self, port: int, client_id: int) -> None:
        from ib_async import IB, Stock

        self.thread = LoopThread("bench-raw-ib")
        self.ib = IB()
        self.thread.run(lambda: self.ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=10))
        self.contract = Stock(TICKER, "SMART", "USD")
        self.thread.run(lambda: self.ib.qualifyContractsAsync(self.contract))

    def _order(self, price: Decimal) -> Any:
        from ib_async import LimitOrder

        return LimitOrder("BUY", 1, float(price), account=ACCOUNT, tif="DAY", orderRef=f"raw-{uuid.uuid4().hex[:12]}")

    def preview(self, price: Decimal) -> None:
        async def both() -> None:
            await asyncio.gather(self.ib.whatIfOrderAsync(self.contract, self._order(price)),
                                 self.ib.reqTickersAsync(self.contract))

        self.thread.run(both)

    def place(self, price: Decimal) -> None:
        async def until_first_status() -> None:
            trade = self.ib.placeOrder(self.contract, self._order(price))
            seen = asyncio.Event()
            trade.statusEvent += lambda *_: seen.set()
            while trade.orderStatus.status not in FIRST_STATUSES:
                seen.clear()
                await asyncio.wait_for(seen.wait(), 10)

        self.thread.run(until_first_status)

    def close(self) -> None:
        async def disconnect() -> None:
            if self.ib.isConnected():
                self.ib.disconnect()

        try:
            self.thread.run(disconnect, timeout=5)
        finally:
            self.thread.close()


def _resting_price(sim: Any) -> Decimal:
    """A BUY limit 10% under the market: it rests, so every order's first status is Submitted."""
    quote = sim.get_price(TICKER)
    last = quote.get("last") or quote.get("close") or Decimal("100")
    return (Decimal(last) * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def ibkr(ctx: BenchContext) -> dict[str, Any]:
    """Preview and execute overhead vs raw ib_async, and TCP connects over many previews."""
    missing = _missing()
    if missing:
        return not_available(missing)
    from brokers.ibkr.adapter import IBKRBrokerAdapter
    from brokers.ibkr.connection import IBKRConnectionManager
    from simulators.ib_gateway import IBGatewaySimulator

    ctx.truncate()
    calls = ctx.n(15, 150)
    connection_calls = ctx.n(100, 1000)
    with IBGatewaySimulator(accounts=(ACCOUNT,), starting_cash=Decimal("1000000000"),
                            farm_notices=False) as sim:
        price = _resting_price(sim)
        manager = IBKRConnectionManager("127.0.0.1", sim.port, SERVICE_CLIENT, request_timeout=15.0)
        adapter = IBKRBrokerAdapter(manager, owns_manager=True)
        raw = RawIB(sim.port, RAW_CLIENT)
        try:
            with ctx.service([adapter]) as service:

                def preview() -> str:
                    return service.preview_trade(ACCOUNT, TICKER, "BUY", Decimal(1), "Limit", price).preview_id

                sim.clear_received()
                previews = interleaved({"service": preview, "raw": lambda: raw.preview(price)}, calls)
                preview_msgs = _messages_per_call(sim, calls + 2)
                pending = [preview() for _ in range(calls + 2)]
                time.sleep(1.1)  # let ib_async's 1 s request-throttle window drain after that burst
                sim.clear_received()
                executes = interleaved(
                    {"service": lambda: service.execute_trade(pending.pop()), "raw": lambda: raw.place(price)}, calls
                )
                execute_msgs = _messages_per_call(sim, calls + 2)
            connects = _connections(ctx, sim, price, connection_calls)
        finally:
            raw.close()
    preview_cmp = compare(Summary.of(previews["service"]), Summary.of(previews["raw"]))
    execute_cmp = compare(Summary.of(executes["service"]), Summary.of(executes["raw"]))
    return {
        "title": "IBKR on the IB Gateway simulator: service vs raw ib_async (same gateway, interleaved)",
        "measured": True,
        "preview": preview_cmp,
        "execute": execute_cmp,
        "connections": connects,
        "gateway_messages_per_call": {"preview": preview_msgs, "execute": execute_msgs},
        "rows": latency_rows("preview_trade vs whatIfOrder+snapshot", preview_cmp)
        + latency_rows("execute_trade vs placeOrder until Submitted", execute_cmp)
        + [
            {"metric": "messages the gateway receives per preview (service vs raw)",
             "value": preview_msgs["service"]["total"], "baseline": preview_msgs["raw"]["total"],
             "ratio": rounded(preview_msgs["service"]["total"] / max(preview_msgs["raw"]["total"], 1e-9))},
            {"metric": "messages the gateway receives per execute (service vs raw)",
             "value": execute_msgs["service"]["total"], "baseline": execute_msgs["raw"]["total"],
             "ratio": rounded(execute_msgs["service"]["total"] / max(execute_msgs["raw"]["total"], 1e-9))},
            {"metric": f"TCP connects to the gateway over {connects['calls']:,} previews (must be 1)",
             "value": connects["connects"], "baseline": 1, "ratio": None},
        ],
    }


def _messages_per_call(sim: Any, calls: int) -> dict[str, Any]:
    """Messages per call by sender (client id 31 = service, 32 = raw), with the TWS message ids seen."""
    by_client: dict[int, Counter[int]] = {SERVICE_CLIENT: Counter(), RAW_CLIENT: Counter()}
    for client_id, msg_id, _fields in sim.received:
        if client_id in by_client:
            by_client[client_id][msg_id] += 1
    return {
        name: {"total": round(sum(counts.values()) / calls, 2),
               "by_msg_id": {str(k): round(v / calls, 2) for k, v in sorted(counts.items())}}
        for name, counts in (("service", by_client[SERVICE_CLIENT]), ("raw", by_client[RAW_CLIENT]))
    }


def latency_rows(label: str, pair: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"metric": f"{label}: p50 ms", "value": pair["subject"]["p50_ms"], "baseline": pair["baseline"]["p50_ms"],
         "ratio": pair["ratio_p50"]},
        {"metric": f"{label}: p99 ms", "value": pair["subject"]["p99_ms"], "baseline": pair["baseline"]["p99_ms"],
         "ratio": pair["ratio_p99"]},
    ]


def _connections(ctx: BenchContext, sim: Any, price: Decimal, calls: int) -> dict[str, Any]:
    """A fresh manager (lazy connect) and `calls` previews: the gateway must see exactly one connect."""
    from brokers.ibkr.adapter import IBKRBrokerAdapter
    from brokers.ibkr.connection import IBKRConnectionManager

    before = sim.connection_count
    manager = IBKRConnectionManager("127.0.0.1", sim.port, CONNECTS_CLIENT, request_timeout=15.0)
    adapter = IBKRBrokerAdapter(manager, owns_manager=True)
    with ctx.service([adapter]) as service:
        seconds = timed(lambda: [
            service.preview_trade(ACCOUNT, TICKER, "BUY", Decimal(1), "Limit", price) for _ in range(calls)
        ])
    return {"calls": calls, "connects": sim.connection_count - before,
            "previews_per_s": rounded(calls / seconds, 1)}
