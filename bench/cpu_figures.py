"""CPU per call: this process's Python and the database server's, for the service and for its floor.

Latency ratios on a quiet database are dominated by CPU, and throughput on a 2-core machine is
bounded by it: executes/s across processes can be at most cores / (Python CPU + PostgreSQL CPU)
per execute. So the bench reports both, per call, against the floor's (bench/floor.py), measured
in blocks of calls (subject, floor, subject, floor, ...) at one caller.

Python CPU is time.process_time() of this process (all its threads). PostgreSQL CPU is read from
/proc for the server's processes that pg_stat_activity lists for this database, plus its background
processes, so it is measured only when the server runs on this machine and its processes are
visible; otherwise the figure says so.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from bench.context import ACCOUNT, BenchContext, bench_broker
from bench.floor import Floor
from bench.own_sql import OwnSql
from bench.service_figures import _request, _to_place
from bench.stats import rounded

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
BLOCKS = 4


_SERVER_PROCESSES = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR datname IS NULL")
"""This database's backends and the server's own background processes (not other databases' backends)."""


def _server_cpu(engine: Engine) -> dict[int, float] | None:
    """CPU seconds (utime + stime) per server process; None when they are not readable (another machine)."""
    with engine.connect() as conn:
        pids = [int(pid) for pid in conn.execute(_SERVER_PROCESSES).scalars()]
    used: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended since the listing, or not visible from here (a server on another machine)
        used[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return used or None


class CpuMeter:
    """Python and server CPU over a block of calls."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def block(self, action: Callable[[], Any], calls: int) -> tuple[float, float | None]:
        """(Python CPU ms per call, server CPU ms per call or None). A server process that started during the
        block counts whole; one that ended during it is lost (the pool keeps its connections, so none do)."""
        server_before = _server_cpu(self.engine)
        python_before = time.process_time()
        for _ in range(calls):
            action()
        python = (time.process_time() - python_before) * 1000 / calls
        server_after = _server_cpu(self.engine)
        if server_before is None or server_after is None:
            return python, None
        used = sum(seconds - server_before.get(pid, 0.0) for pid, seconds in server_after.items())
        return python, used * 1000 / calls


def _measure(meter: CpuMeter, actions: dict[str, Callable[[], Any]], calls: int) -> dict[str, dict[str, Any]]:
    python: dict[str, float] = dict.fromkeys(actions, 0.0)
    server: dict[str, float | None] = dict.fromkeys(actions, 0.0)
    for _ in range(BLOCKS):
        for name, action in actions.items():
            used, served = meter.block(action, calls)
            python[name] += used / BLOCKS
            before = server[name]
            server[name] = None if served is None or before is None else before + served / BLOCKS
    result: dict[str, dict[str, Any]] = {}
    for name in actions:
        pg = server[name]
        result[name] = {"python_ms": rounded(python[name]), "postgres_ms": rounded(pg),
                        "total_ms": None if pg is None else rounded(python[name] + pg)}
    return result


def _rows(call: str, measured: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for subject, baseline_name, label in (("service", "floor", "vs floor"),
                                          ("service", "own_sql", "vs its own SQL alone")):
        for part in ("python_ms", "postgres_ms", "total_ms"):
            value, baseline = measured[subject][part], measured[baseline_name][part]
            rows.append({"metric": f"{call}: {part.replace('_ms', '')} CPU ms per call {label}", "value": value,
                         "baseline": baseline, "ratio": rounded(value / baseline) if value and baseline else None})
    return rows


def cpu(ctx: BenchContext) -> dict[str, Any]:
    """Python and PostgreSQL CPU per preview and per execute (in-memory broker), service vs floor."""
    ctx.truncate()
    broker = bench_broker()
    floor, own = Floor(ctx.engine), OwnSql(ctx.engine, ctx.session_factory)
    meter = CpuMeter(ctx.engine)
    calls = ctx.n(150, 600)
    to_place, request = _to_place(), _request()
    with ctx.service([broker]) as service:
        def preview() -> str:
            return service.preview_trade(ACCOUNT, "AAPL", "BUY", Decimal("1"), "Market").preview_id

        for _ in range(20):  # warm: prepared statements, pooled connections
            service.execute_trade(preview())
        previews = _measure(meter, {"service": preview,
                                    "floor": floor.preview(lambda: broker.preview_order(request)),
                                    "own_sql": own.preview(preview(), lambda: broker.preview_order(request))}, calls)
        pending = [preview() for _ in range(calls * BLOCKS + 2)]
        own_pending = [preview() for _ in range(calls * BLOCKS + 2)]
        executes = _measure(meter, {
            "service": lambda: service.execute_trade(pending.pop()),
            "floor": floor.execute(lambda: broker.place_order(ACCOUNT, to_place, uuid.uuid4().hex)),
            "own_sql": own.execute(own_pending, lambda: broker.place_order(ACCOUNT, to_place, uuid.uuid4().hex)),
        }, calls)
    measured = executes["service"]["postgres_ms"] is not None
    return {
        "title": "CPU per call, 1 caller: Python (this process) and PostgreSQL (its server processes) vs the floor "
                 "and vs the module's own SQL alone (bench/own_sql.py)",
        "measured": True,
        "postgres_measured": measured,
        "preview": previews,
        "execute": executes,
        "rows": _rows("preview", previews) + _rows("execute", executes),
        **({} if measured else {"note": "the database server's processes are not visible from here: "
                                        "PostgreSQL CPU not measured"}),
    }
