"""`tradeexec bench`: ratios and counts against baselines measured in the same run.

run_all() creates its own throw-away database (see bench.database), runs the selected
figures, and returns a JSON-ready dict; bench.report renders it as tables.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.context import BenchContext
from bench.database import bench_server_url, fresh_bench_database, server_version

Figure = Callable[[BenchContext], dict[str, Any]]
log = logging.getLogger(__name__)


def _figures() -> dict[str, Figure]:
    """Name -> figure, in run order. Imported lazily so `--only scale` never imports ib_async."""
    from bench import (
        bracket_figures,
        cold_start,
        cpu_figures,
        ibkr_figures,
        ibkr_scale,
        processes,
        scale,
        service_figures,
        snaptrade_figures,
    )

    return {
        "storm": service_figures.duplicate_storm,
        "throughput": service_figures.throughput,
        "latency": service_figures.latency,
        "cpu": cpu_figures.cpu,
        "processes": processes.processes,
        "scale": scale.scale,
        "ibkr": ibkr_figures.ibkr,
        "ibkr_scale": ibkr_scale.ibkr_scale,
        "bracket": bracket_figures.bracket,
        "snaptrade": snaptrade_figures.snaptrade,
        "cold_start": cold_start.cold_start,
    }


DB_FIGURES = ("storm", "throughput", "scale")


def figure_names() -> list[str]:
    return list(_figures())


def run_all(quick: bool = False, only: list[str] | None = None, database_url: str | None = None) -> dict[str, Any]:
    """Run the figures (all, or `only`) and return {"meta": ..., "figures": {name: result}}.

    quick=True uses small N and 10^4 rows only (about a minute); database_url names a
    server on which a fresh database is created and dropped (never used as is).
    """
    figures = _figures()
    selected = list(figures) if not only else list(only)
    unknown = [name for name in selected if name not in figures]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; known: {list(figures)}")
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    server, source = bench_server_url(database_url)
    results: dict[str, Any] = {}
    with fresh_bench_database(server) as url:
        ctx = BenchContext(url, quick)
        try:
            version = server_version(ctx.engine)
            for name in selected:
                figure_start = time.perf_counter()
                try:
                    results[name] = figures[name](ctx)
                except Exception as exc:
                    log.exception("figure %s failed", name)
                    results[name] = {"measured": False, "reason": f"failed: {type(exc).__name__}: {str(exc)[:300]}"}
                results[name]["figure_seconds"] = round(time.perf_counter() - figure_start, 1)
        finally:
            ctx.close()
    return {
        "meta": {
            "mode": "quick" if quick else "full",
            "started_at": started_at,
            "seconds": round(time.perf_counter() - started, 1),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "postgres": version,
            "database_server": source,
        },
        "figures": results,
    }
