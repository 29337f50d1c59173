"""SnapTrade figures on the SnapTrade simulator: the service against raw SDK calls.

preview: TradeExecutionService.preview_trade vs the raw SDK's quote + order-impact calls
(the two calls a preview cannot do without). execute: execute_trade vs the raw SDK's
place_order on a fresh trade id. The HTTP requests each makes are counted from the
simulator's request log, so extra round trips show as a count, not just as time.
"""

from __future__ import annotations

import importlib
from collections import Counter
from decimal import ROUND_DOWN, Decimal
from typing import Any

from pydantic import SecretStr

from bench.context import BenchContext
from bench.floor import Floor
from bench.ibkr_figures import latency_rows, not_available
from bench.stats import Summary, compare, interleaved, rounded


def _missing() -> str | None:
    for module in ("brokers.snaptrade.adapter", "simulators.snaptrade"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return f"not measured: {module} not available ({exc})"
    return None


class RawSnapTrade:
    """The unmodified SDK as a caller without this project would use it: the baseline."""

    def __init__(self, sim: Any, demo: dict[str, Any], account: str, symbol_id: str) -> None:
        from snaptrade_client import SnapTrade, SnapTradeAuth

        auth = SnapTradeAuth.commercial_api_key(consumer_key=sim.get("consumer_key"), client_id=sim.get("client_id"))
        self.sdk: Any = SnapTrade(auth=auth, host=sim.get("base_url"))
        self.user = {"user_id": demo["user_id"], "user_secret": demo["user_secret"]}
        self.account = account
        self.symbol_id = symbol_id

    def preview(self, price: Decimal) -> str:
        self.sdk.trading.get_user_account_quotes(symbols="AAPL", account_id=self.account, use_ticker=True,
                                                 **self.user)
        body = self.sdk.trading.get_order_impact(
            account_id=self.account, action="BUY", universal_symbol_id=self.symbol_id, order_type="Limit",
            time_in_force="Day", price=float(price), units=1.0, **self.user,
        ).body
        return str(body["trade"]["id"])

    def place(self, trade_id: str) -> None:
        self.sdk.trading.place_order(trade_id=trade_id, wait_to_confirm=True, **self.user)


def _paths(sim: Any, action: Any, calls: int) -> dict[str, float]:
    """HTTP requests per call by method and path (ids folded), from the simulator's log."""
    sim.call("clear_requests")
    for _ in range(calls):
        action()
    counts: Counter[str] = Counter()
    for request in sim.get("requests"):
        parts = ["{id}" if len(p) >= 20 else p for p in request.path.split("/")]
        counts[f"{request.method} {'/'.join(parts)}"] += 1
    return {path: round(n / calls, 2) for path, n in sorted(counts.items())}


def snaptrade(ctx: BenchContext) -> dict[str, Any]:
    """Preview and execute overhead vs raw SDK calls on the same simulator, interleaved."""
    missing = _missing()
    if missing:
        return not_available(missing)
    from bench.remote_sim import RemoteSimulator
    from brokers.snaptrade.adapter import SnapTradeBrokerAdapter
    from brokers.snaptrade.client import SnapTradeCredentials

    ctx.truncate()
    calls = ctx.n(10, 150)
    floor = Floor(ctx.engine)
    with RemoteSimulator("snaptrade") as sim:
        demo = sim.call("seed_demo")
        account = str(demo["accounts"]["paper"])
        sim.call("set_cash", account, Decimal("1000000000"))
        sim.set("fill_policy", "accept")  # orders rest ACCEPTED: every placement does the same work
        price = (Decimal(sim.call("price", "AAPL")) * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        adapter = SnapTradeBrokerAdapter(SnapTradeCredentials(
            client_id=sim.get("client_id"), consumer_key=SecretStr(sim.get("consumer_key")), user_id=demo["user_id"],
            user_secret=SecretStr(demo["user_secret"]), base_url=sim.get("base_url"),
        ))
        raw = RawSnapTrade(sim, demo, account, str(demo["symbols"]["AAPL"]))
        with ctx.service([adapter]) as service:

            def preview() -> str:
                return service.preview_trade(account, "AAPL", "BUY", Decimal(1), "Limit", price).preview_id

            previews = interleaved({"service": preview, "raw": lambda: raw.preview(price),
                                    "floor": floor.preview(lambda: raw.preview(price))}, calls)
            service_ids = [preview() for _ in range(calls + 2)]
            raw_ids = [raw.preview(price) for _ in range(2 * calls + 4)]
            executes = interleaved({"service": lambda: service.execute_trade(service_ids.pop()),
                                    "raw": lambda: raw.place(raw_ids.pop()),
                                    "floor": floor.execute(lambda: raw.place(raw_ids.pop()))}, calls)
            requests = {
                "preview": {"service": _paths(sim, preview, 3), "raw": _paths(sim, lambda: raw.preview(price), 3)},
                "execute": {
                    "service": _paths(sim, lambda: service.execute_trade(preview()), 3),
                    "raw": _paths(sim, lambda: raw.place(raw.preview(price)), 3),
                },
            }
    # the execute passes above include a preview each; subtract it to count the execute alone
    for side in ("service", "raw"):
        for path, n in requests["preview"][side].items():
            requests["execute"][side][path] = round(requests["execute"][side].get(path, 0) - n, 2)
        requests["execute"][side] = {p: n for p, n in requests["execute"][side].items() if n}
    preview_cmp = compare(Summary.of(previews["service"]), Summary.of(previews["raw"]))
    execute_cmp = compare(Summary.of(executes["service"]), Summary.of(executes["raw"]))
    preview_floor = compare(Summary.of(previews["service"]), Summary.of(previews["floor"]))
    execute_floor = compare(Summary.of(executes["service"]), Summary.of(executes["floor"]))
    totals = {phase: {side: round(sum(paths.values()), 2) for side, paths in sides.items()}
              for phase, sides in requests.items()}
    return {
        "title": ("SnapTrade on the SnapTrade simulator (own process): service vs raw SDK and vs the floor "
                  "(interleaved)"),
        "measured": True,
        "preview": preview_cmp,
        "execute": execute_cmp,
        "preview_vs_floor": preview_floor,
        "execute_vs_floor": execute_floor,
        "http_requests_per_call": requests,
        "rows": latency_rows("preview_trade vs SDK quotes+order impact", preview_cmp)
        + latency_rows("execute_trade vs SDK place_order", execute_cmp)
        + latency_rows("preview_trade vs floor (SDK calls + 1 commit)", preview_floor)
        + latency_rows("execute_trade vs floor (SDK place_order + 2 commits)", execute_floor)
        + [
            {"metric": f"HTTP requests per {phase} (service vs raw)", "value": totals[phase]["service"],
             "baseline": totals[phase]["raw"],
             "ratio": rounded(totals[phase]["service"] / max(totals[phase]["raw"], 1e-9))}
            for phase in ("preview", "execute")
        ],
        "notes": [f"{phase} {side}: {paths}" for phase, sides in requests.items() for side, paths in sides.items()],
    }
