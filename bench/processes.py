"""Throughput across processes: 16 callers split over 1, 2 and 4 `tradeexec`-like processes, one database.

Each worker process builds its own service (own pool, own in-memory broker) on the bench
database, makes its previews untimed and warms its pool, says "ready"; when every worker is
ready they are all told "go" and drain their previews with their share of the callers.
Executes/s = all executes / (last end - first start). The floor runs the same way: each worker
does INSERT+COMMIT, the in-memory broker call, UPDATE+COMMIT per execute (bench.floor).
Each worker previews on its own share of the 16 accounts (see _worker).
Run as a worker: python -m bench.processes URL CALLERS EXECUTES service|floor PART PARTS (prints one JSON line).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

from bench.context import BenchContext
from bench.stats import rounded

TOTAL_CALLERS = 16
PROCESS_COUNTS = (1, 2, 4)


def _worker(url: str, callers: int, executes: int, mode: str, part: int, parts: int) -> dict[str, Any]:
    """Make the work untimed, say "ready", wait for "go" on stdin, then run it with `callers` threads.

    Worker `part` of `parts` previews on its own share of the 16 accounts: the 16 callers in all have
    16 accounts between them as in one process, so executes of different processes never queue for one
    account's holdings check where those of one process would not. (With every worker on all 16 in the
    same order they could; measured, it made no difference: 773 / 816 executes/s at 2 / 4 processes
    before, 794 / 799 after, on the same quiet machine. The bound is CPU, see the cpu figure.)"""
    from bench.context import ACCOUNT, BENCH_ACCOUNTS, bench_broker, bench_settings
    from bench.floor import Floor
    from bench.service_figures import _preview, _run_parallel, _to_place
    from db.engine import make_engine, make_session_factory
    from services.trade_execution import TradeExecutionService

    engine = make_engine(url, pool_size=max(callers, 4))
    broker = bench_broker(len(BENCH_ACCOUNTS))
    service = TradeExecutionService(bench_settings(url), make_session_factory(engine), [broker])
    try:
        if mode == "floor":
            to_place = _to_place()
            floor = Floor(engine).execute(lambda: broker.place_order(ACCOUNT, to_place, uuid.uuid4().hex))
            work: list[Any] = [None] * executes
            action: Any = lambda _item: floor()  # noqa: E731 - one line
        else:
            share = len(BENCH_ACCOUNTS) // parts
            accounts = BENCH_ACCOUNTS[part * share:(part + 1) * share]
            work = [_preview(service, accounts[i % share]) for i in range(executes)]
            action = service.execute_trade
        _run_parallel(callers, work[:callers], action)  # warm: the pool's connections exist before the clock
        work = work[callers:]
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.time()
        _run_parallel(callers, work, action)
        return {"executes": len(work), "started": started, "ended": time.time()}
    finally:
        service.close()
        engine.dispose()


def _run(ctx: BenchContext, processes: int, per_process: int, mode: str) -> dict[str, Any]:
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.processes", ctx.url, str(TOTAL_CALLERS // processes), str(per_process),
             mode, str(part), str(processes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for part in range(processes)
    ]
    for worker in workers:  # every worker has made its work and warmed its pool
        if worker.stdout is None or worker.stdout.readline().strip() != "ready":
            raise RuntimeError("a bench worker did not get ready")
    for worker in workers:  # then all start together
        if worker.stdin is not None:
            worker.stdin.write("go\n")
            worker.stdin.flush()
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        if worker.returncode != 0:
            raise RuntimeError(f"bench worker exited {worker.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    executes = sum(r["executes"] for r in results)
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return {"processes": processes, "callers": TOTAL_CALLERS, "executes": executes,
            "executes_per_s": round(executes / seconds, 1),
            "start_spread_ms": round((max(r["started"] for r in results) - min(r["started"] for r in results)) * 1000,
                                     1)}


def processes(ctx: BenchContext) -> dict[str, Any]:
    """16 callers over 1, 2 and 4 processes sharing the database (in-memory broker in each), and the floor."""
    ctx.truncate()
    per_total = ctx.n(800, 4800)
    levels = []
    for n in PROCESS_COUNTS:
        level = _run(ctx, n, per_total // n, "service")
        floor = _run(ctx, n, per_total // n, "floor")
        levels.append({**level, "floor_per_s": floor["executes_per_s"],
                       "service_over_floor": rounded(floor["executes_per_s"] / level["executes_per_s"])})
    one = levels[0]["executes_per_s"]
    return {
        "title": f"Throughput across processes: {TOTAL_CALLERS} callers, one database (in-memory broker)",
        "measured": True,
        "baseline": "the same 16 callers in one process",
        "levels": levels,
        "rows": [
            {"metric": f"{lv['processes']} process(es) x {TOTAL_CALLERS // lv['processes']} callers: executes/s "
                       "vs 1 process",
             "value": lv["executes_per_s"], "baseline": one, "ratio": rounded(lv["executes_per_s"] / one)}
            for lv in levels
        ] + [
            {"metric": f"{lv['processes']} process(es): executes/s vs floor/s (floor/service time)",
             "value": lv["executes_per_s"], "baseline": lv["floor_per_s"], "ratio": lv["service_over_floor"]}
            for lv in levels
        ],
    }


if __name__ == "__main__":
    url_arg, callers_arg, executes_arg, mode_arg, part_arg, parts_arg = sys.argv[1:7]
    print(json.dumps(_worker(url_arg, int(callers_arg), int(executes_arg), mode_arg, int(part_arg), int(parts_arg))))
