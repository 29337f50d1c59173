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
from bench.floor import Floor
from bench.loop_thread import LoopThread
from bench.own_sql import OwnSql
from bench.stats import Samples, Summary, compare, paced, rounded, timed

ACCOUNT = "DU7654321"
TICKER = "AAPL"
SERVICE_CLIENT, RAW_CLIENT, CONNECTS_CLIENT, FLOOR_CLIENT, OWN_SQL_CLIENT = 31, 32, 33, 34, 35
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
        self.stalls = 0
        self.ib.client.throttleStart += self._on_throttle
        self.contract = Stock(TICKER, "SMART", "USD")
        self.thread.run(lambda: self.ib.qualifyContractsAsync(self.contract))

    def _on_throttle(self) -> None:
        self.stalls += 1

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


def _resting_price(quote: dict[str, Any]) -> Decimal:
    """A BUY limit 10% under the market: it rests, so every order's first status is Submitted."""
    last = quote.get("last") or quote.get("close") or Decimal("100")
    return (Decimal(last) * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def simulator() -> Any:
    """The IB Gateway simulator in its own process (bench.remote_sim)."""
    from bench.remote_sim import RemoteSimulator

    return RemoteSimulator("ib_gateway", accounts=(ACCOUNT,), starting_cash=Decimal("1000000000"),
                           farm_notices=False)


PREVIEW_ROUND_S = 1 / 12  # a preview is 2 messages per client: 24/s, well under ib_async's 45/s per client
EXECUTE_ROUND_S = 1 / 15  # an execute is 1 message, plus the coalesced refresh after it (2)


def ibkr(ctx: BenchContext) -> dict[str, Any]:
    """Preview and execute vs raw ib_async and vs the floor, paced under the limit; stalls counted apart."""
    missing = _missing()
    if missing:
        return not_available(missing)
    from brokers.ibkr.adapter import IBKRBrokerAdapter
    from brokers.ibkr.connection import IBKRConnectionManager

    ctx.truncate()
    calls = ctx.n(15, 150)
    connection_calls = ctx.n(100, 1000)
    floor, own = Floor(ctx.engine), OwnSql(ctx.engine, ctx.session_factory)
    with simulator() as sim:
        port = int(sim.get("port"))
        price = _resting_price(sim.call("get_price", TICKER))
        manager = IBKRConnectionManager("127.0.0.1", port, SERVICE_CLIENT, request_timeout=15.0)
        adapter = IBKRBrokerAdapter(manager, owns_manager=True)
        raw, floor_ib, own_ib = RawIB(port, RAW_CLIENT), RawIB(port, FLOOR_CLIENT), RawIB(port, OWN_SQL_CLIENT)
        stalls = {"service": lambda: manager.pacing.stats.ib_async_stalls, "raw": lambda: raw.stalls,
                  "floor": lambda: floor_ib.stalls, "own_sql": lambda: own_ib.stalls}
        try:
            with ctx.service([adapter]) as service:

                def preview() -> str:
                    return service.preview_trade(ACCOUNT, TICKER, "BUY", Decimal(1), "Limit", price).preview_id

                preview_calls = {"service": preview, "raw": lambda: raw.preview(price),
                                 "floor": floor.preview(lambda: floor_ib.preview(price)),
                                 "own_sql": own.preview(preview(), lambda: own_ib.preview(price))}
                previews = paced(preview_calls, 1, PREVIEW_ROUND_S, stalls)  # warm-up: contracts, pools
                sim.call("clear_received")  # steady state: counted after connect and warm-up
                previews = paced(preview_calls, calls, PREVIEW_ROUND_S, stalls, warmup=0)
                preview_msgs = _messages_per_call(sim.get("received"), calls)
                pending, own_pending = [], []
                for _ in range(calls + 3):  # 3 warm-up executes (1 round after 2 unpaced)
                    pending.append(preview())
                    own_pending.append(preview())
                    time.sleep(PREVIEW_ROUND_S * 1.5)  # 16 previews/s: within the read budget
                time.sleep(1.1)  # let ib_async's 1 s request-throttle window drain after those previews
                execute_calls = {"service": lambda: service.execute_trade(pending.pop()),
                                 "raw": lambda: raw.place(price),
                                 "floor": floor.execute(lambda: floor_ib.place(price)),
                                 "own_sql": own.execute(own_pending, lambda: own_ib.place(price))}
                executes = paced(execute_calls, 1, EXECUTE_ROUND_S, stalls)
                sim.call("clear_received")
                executes = paced(execute_calls, calls, EXECUTE_ROUND_S, stalls, warmup=0)
                time.sleep(1.0)  # the coalesced refresh after the last trades is counted too
                execute_msgs = _messages_per_call(sim.get("received"), calls)
                pacing = manager.pacing.stats
            connects = _connections(ctx, sim, port, price, connection_calls)
        finally:
            for client in (raw, floor_ib, own_ib):
                client.close()
    return _report(previews, executes, preview_msgs, execute_msgs, connects, pacing)


def _report(previews: dict[str, Samples], executes: dict[str, Samples], preview_msgs: dict[str, Any],
            execute_msgs: dict[str, Any], connects: dict[str, Any], pacing: Any) -> dict[str, Any]:
    figures = {phase: {
        "vs_raw": compare(Summary.of(samples["service"].clean()), Summary.of(samples["raw"].clean())),
        "vs_floor": compare(Summary.of(samples["service"].clean()), Summary.of(samples["floor"].clean())),
        "vs_own_sql": compare(Summary.of(samples["service"].clean()), Summary.of(samples["own_sql"].clean())),
        "own_sql_vs_floor": compare(Summary.of(samples["own_sql"].clean()), Summary.of(samples["floor"].clean())),
        "pacing_stalls": {name: s.stall_count() for name, s in samples.items()},
    } for phase, samples in (("preview", previews), ("execute", executes))}
    rows = []
    for phase, label in (("preview", "preview_trade"), ("execute", "execute_trade until first status")):
        rows += latency_rows(f"{label} vs raw ib_async", figures[phase]["vs_raw"])
        rows += latency_rows(f"{label} vs floor (raw + {1 if phase == 'preview' else 2} commit(s))",
                             figures[phase]["vs_floor"])
        rows += latency_rows(f"{label} vs its own SQL + raw ib_async", figures[phase]["vs_own_sql"])[:1]
        rows += latency_rows(f"{label}: own SQL + raw ib_async vs floor", figures[phase]["own_sql_vs_floor"])[:1]
        rows.append({"metric": f"{label}: calls that met an ib_async pacing stall (excluded above)",
                     "value": figures[phase]["pacing_stalls"]["service"],
                     "baseline": figures[phase]["pacing_stalls"]["raw"], "ratio": None})
    return {
        "title": "IBKR on the IB Gateway simulator (own process): service vs raw ib_async and vs the floor",
        "measured": True,
        **figures,
        "pacing": {"reads_delayed_by_our_budget": pacing.reads_delayed,
                   "read_delay_seconds": round(pacing.read_delay_seconds, 3),
                   "ib_async_stalls": pacing.ib_async_stalls},
        "connections": connects,
        "gateway_messages_per_call": {"preview": preview_msgs, "execute": execute_msgs},
        "rows": [
            *rows,
            {"metric": "gateway messages per preview, steady state (service vs raw)",
             "value": preview_msgs["service"]["total"], "baseline": preview_msgs["raw"]["total"],
             "ratio": rounded(preview_msgs["service"]["total"] / max(preview_msgs["raw"]["total"], 1e-9))},
            {"metric": "gateway messages per execute incl. coalesced refresh, steady state (service vs raw)",
             "value": execute_msgs["service"]["total"], "baseline": execute_msgs["raw"]["total"],
             "ratio": rounded(execute_msgs["service"]["total"] / max(execute_msgs["raw"]["total"], 1e-9))},
            {"metric": f"TCP connects to the gateway over {connects['calls']:,} previews (must be 1)",
             "value": connects["connects"], "baseline": 1, "ratio": None},
        ],
        "notes": [f"calls paced to {round(1 / PREVIEW_ROUND_S)} previews/s and {round(1 / EXECUTE_ROUND_S)} "
                  "executes/s per client, so latencies are the code's; stalls are counted, not timed"],
    }


def _messages_per_call(received: list[Any], calls: int) -> dict[str, Any]:
    """Messages per call by sender (client id 31 = service, 32 = raw), with the TWS message ids seen."""
    by_client: dict[int, Counter[int]] = {SERVICE_CLIENT: Counter(), RAW_CLIENT: Counter()}
    for client_id, msg_id, _fields in received:
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


def _connections(ctx: BenchContext, sim: Any, port: int, price: Decimal, calls: int) -> dict[str, Any]:
    """A fresh manager (lazy connect) and `calls` previews: the gateway must see exactly one connect."""
    from brokers.ibkr.adapter import IBKRBrokerAdapter
    from brokers.ibkr.connection import IBKRConnectionManager

    before = sim.get("connection_count")
    manager = IBKRConnectionManager("127.0.0.1", port, CONNECTS_CLIENT, request_timeout=15.0)
    adapter = IBKRBrokerAdapter(manager, owns_manager=True)
    with ctx.service([adapter]) as service:
        seconds = timed(lambda: [
            service.preview_trade(ACCOUNT, TICKER, "BUY", Decimal(1), "Limit", price) for _ in range(calls)
        ])
    return {"calls": calls, "connects": sim.get("connection_count") - before,
            "previews_per_s": rounded(calls / seconds, 1)}
