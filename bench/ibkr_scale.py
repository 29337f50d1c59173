"""IBKR executes/s against the pacing ceiling, per process (= per client id) and as processes are added.

IB accepts about 50 API messages/s per client id and ib_async paces each client at 45/s; an
execute sends one placeOrder in steady state, so one process can place at most ~45 orders/s.
Each worker process is a whole service with its own IBKR client id, on the bench database and
one IB Gateway simulator (its own process); its previews are one real preview cloned in SQL (so
making them costs no pacing budget), then it executes them as fast as its callers can.

Run as a worker: python -m bench.ibkr_scale URL PORT CLIENT_ID EXECUTES CALLERS START_AT
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from bench.context import BenchContext
from bench.stats import rounded

PACING_PER_CLIENT = 45
PROCESS_COUNTS = (1, 2, 4)
CALLERS = 8
FIRST_CLIENT_ID = 41


def _clone_previews(engine: Any, preview_id: str, count: int) -> list[str]:
    from db.models import TradePreview

    columns = [c.name for c in TradePreview.__table__.c if c.name != "id"]
    listed = ", ".join(columns)
    with engine.begin() as conn:
        rows = conn.execute(text(
            f"INSERT INTO trade_previews (id, {listed}) SELECT gen_random_uuid(), {listed} "
            "FROM trade_previews CROSS JOIN generate_series(1, :n) WHERE id = :id RETURNING id"
        ), {"n": count, "id": uuid.UUID(preview_id)}).scalars().all()
    return [str(r) for r in rows]


def _worker(url: str, port: int, client_id: int, executes: int, callers: int, start_at: float) -> dict[str, Any]:
    from bench.context import bench_settings
    from bench.ibkr_figures import ACCOUNT, TICKER
    from bench.service_figures import _run_parallel
    from brokers.ibkr.adapter import IBKRBrokerAdapter
    from brokers.ibkr.connection import IBKRConnectionManager
    from db.engine import make_engine, make_session_factory
    from services.trade_execution import TradeExecutionService

    engine = make_engine(url, pool_size=callers)
    manager = IBKRConnectionManager("127.0.0.1", port, client_id, request_timeout=30.0)
    service = TradeExecutionService(bench_settings(url), make_session_factory(engine),
                                    [IBKRBrokerAdapter(manager, owns_manager=True)])
    try:
        first = service.preview_trade(ACCOUNT, TICKER, "BUY", Decimal(1), "Limit", Decimal("150.00")).preview_id
        previews = _clone_previews(engine, first, executes + 1)
        service.execute_trade(previews.pop())  # connection and pool warm before the clock starts
        time.sleep(max(0.0, start_at - time.time()))
        stalls, sent = manager.pacing.stats.ib_async_stalls, manager.messages_sent
        started = time.time()
        _run_parallel(callers, previews, service.execute_trade)
        ended = time.time()
        return {"client_id": client_id, "executes": len(previews), "started": started, "ended": ended,
                "executes_per_s": round(len(previews) / (ended - started), 1),
                "messages_per_execute": round((manager.messages_sent - sent) / len(previews), 2),
                "ib_async_stalls": manager.pacing.stats.ib_async_stalls - stalls}
    finally:
        service.close()
        engine.dispose()


def _run(ctx: BenchContext, port: int, processes: int, per_process: int) -> dict[str, Any]:
    start_at = time.time() + 6.0 + 2 * processes
    workers = [
        subprocess.Popen([sys.executable, "-m", "bench.ibkr_scale", ctx.url, str(port), str(FIRST_CLIENT_ID + i),
                          str(per_process), str(CALLERS), repr(start_at)], stdout=subprocess.PIPE, text=True)
        for i in range(processes)
    ]
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        if worker.returncode != 0:
            raise RuntimeError(f"ibkr bench worker exited {worker.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    executes = sum(r["executes"] for r in results)
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    ceiling = PACING_PER_CLIENT * processes
    return {"processes": processes, "executes": executes, "executes_per_s": round(executes / seconds, 1),
            "ceiling_per_s": ceiling, "of_ceiling": rounded(executes / seconds / ceiling),
            "per_process": [{k: r[k] for k in ("client_id", "executes_per_s", "messages_per_execute",
                                               "ib_async_stalls")} for r in results]}


def ibkr_scale(ctx: BenchContext) -> dict[str, Any]:
    """Executes/s per client id against ib_async's 45 messages/s, with 1, 2 and 4 processes."""
    from bench.ibkr_figures import _missing, not_available, simulator

    missing = _missing()
    if missing:
        return not_available(missing)
    ctx.truncate()
    per_process = ctx.n(90, 270)  # about 2 s (quick) or 6 s at the ceiling
    with simulator() as sim:
        port = int(sim.get("port"))
        levels = [_run(ctx, port, n, per_process) for n in PROCESS_COUNTS]
    return {
        "title": f"IBKR executes/s vs the pacing ceiling ({PACING_PER_CLIENT} msgs/s per client id), "
                 f"{CALLERS} callers per process, one client id per process",
        "measured": True,
        "levels": levels,
        "rows": [
            {"metric": f"{lv['processes']} process(es): executes/s vs ceiling "
                       f"(per process: {', '.join(str(p['executes_per_s']) for p in lv['per_process'])})",
             "value": lv["executes_per_s"], "baseline": lv["ceiling_per_s"], "ratio": lv["of_ceiling"]}
            for lv in levels
        ],
        "notes": [f"{lv['processes']} process(es): messages/execute "
                  f"{[p['messages_per_execute'] for p in lv['per_process']]}, ib_async pacing stalls "
                  f"{[p['ib_async_stalls'] for p in lv['per_process']]} (at the ceiling placements queue in "
                  "ib_async by design)" for lv in levels],
    }


if __name__ == "__main__":
    url_arg, port_arg, client_arg, executes_arg, callers_arg, start_arg = sys.argv[1:7]
    print(json.dumps(_worker(url_arg, int(port_arg), int(client_arg), int(executes_arg), int(callers_arg),
                             float(start_arg))))
