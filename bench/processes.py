"""Throughput across processes: 16 callers split over 1, 2 and 4 `tradeexec`-like processes, one database.

Each worker process builds its own service (own pool, own in-memory broker) on the bench
database, makes its previews untimed, waits for a common start instant, then drains them
with its share of the callers. Executes/s = all executes / (last end - first start).
Run as a worker: python -m bench.processes URL CALLERS EXECUTES START_AT (prints one JSON line).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.context import BenchContext
from bench.stats import rounded

TOTAL_CALLERS = 16
PROCESS_COUNTS = (1, 2, 4)


def _worker(url: str, callers: int, executes: int, start_at: float) -> dict[str, Any]:
    from bench.context import BENCH_ACCOUNTS, bench_broker, bench_settings
    from bench.service_figures import _run_parallel, _spread_previews
    from db.engine import make_engine, make_session_factory
    from services.trade_execution import TradeExecutionService

    engine = make_engine(url, pool_size=max(callers, 4))
    broker = bench_broker(len(BENCH_ACCOUNTS))
    service = TradeExecutionService(bench_settings(url), make_session_factory(engine), [broker])
    try:
        previews = _spread_previews(service, executes, len(BENCH_ACCOUNTS))
        for _ in range(min(callers, executes)):  # warm the pool: connections are made before the clock starts
            service.execute_trade(previews.pop())
        while time.time() < start_at:
            time.sleep(0.001)
        started = time.time()
        _run_parallel(callers, previews, service.execute_trade)
        return {"executes": len(previews), "started": started, "ended": time.time()}
    finally:
        service.close()
        engine.dispose()


def _run(ctx: BenchContext, processes: int, per_process: int) -> dict[str, Any]:
    start_at = time.time() + 4.0 + processes  # every worker has made its previews by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.processes", ctx.url, str(TOTAL_CALLERS // processes), str(per_process),
             repr(start_at)],
            stdout=subprocess.PIPE, text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        if worker.returncode != 0:
            raise RuntimeError(f"bench worker exited {worker.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    if min(r["started"] for r in results) < start_at - 0.01:
        raise RuntimeError("a worker started before the common start instant")
    executes = sum(r["executes"] for r in results)
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return {"processes": processes, "callers": TOTAL_CALLERS, "executes": executes,
            "executes_per_s": round(executes / seconds, 1),
            "late_start_ms": round((max(r["started"] for r in results) - start_at) * 1000, 1)}


def processes(ctx: BenchContext) -> dict[str, Any]:
    """16 callers over 1, 2 and 4 processes sharing the database (in-memory broker in each)."""
    ctx.truncate()
    per_total = ctx.n(400, 2400)
    levels = [_run(ctx, n, per_total // n) for n in PROCESS_COUNTS]
    one = levels[0]["executes_per_s"]
    return {
        "title": f"Throughput across processes: {TOTAL_CALLERS} callers, one database (in-memory broker)",
        "measured": True,
        "baseline": "the same 16 callers in one process",
        "levels": levels,
        "rows": [
            {"metric": f"{lv['processes']} process(es) x {TOTAL_CALLERS // lv['processes']} callers: executes/s",
             "value": lv["executes_per_s"], "baseline": one, "ratio": rounded(lv["executes_per_s"] / one)}
            for lv in levels
        ],
    }


if __name__ == "__main__":
    url_arg, callers_arg, executes_arg, start_arg = sys.argv[1:5]
    print(json.dumps(_worker(url_arg, int(callers_arg), int(executes_arg), float(start_arg))))
