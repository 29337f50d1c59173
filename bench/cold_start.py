"""Cold start: time until a freshly spawned `tradeexec mcp` answers tools/list.

The baseline is `python -c "import mcp"` spawned the same way in the same run: the
interpreter plus the MCP SDK is the floor any MCP server in Python pays, so the ratio
is what this server adds on top (its imports, settings, the tool registry).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.context import BenchContext
from bench.ibkr_figures import not_available
from bench.stats import Summary, compare, rounded

REPO = Path(__file__).resolve().parents[1]


def _child_env(database_url: str) -> dict[str, str]:
    """Only what the server needs: the bench database, no brokers, nothing from the caller's shell."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "TMPDIR", "HOME"}}
    return {**keep, "PYTHONPATH": str(REPO), "DATABASE_URL": database_url, "BROKERS": "",
            "ORDERS_ENABLED": "false", "TRADEEXEC_DATA_DIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / "te-bench")}


async def _until_tools_listed(env: dict[str, str]) -> tuple[float, int]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "cli", "mcp"], env=env, cwd=str(REPO))
    start = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        listed = await client.list_tools()
        elapsed = time.perf_counter() - start
    return elapsed, len(listed.tools)


def _import_mcp(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mcp"], env=env, cwd=REPO, check=True, timeout=60)
    return time.perf_counter() - start


def cold_start(ctx: BenchContext) -> dict[str, Any]:
    if importlib.util.find_spec("cli") is None or importlib.util.find_spec("mcp_tools.server") is None:
        return not_available("not measured: cli.py / mcp_tools.server not available")
    env = _child_env(ctx.url)
    runs = ctx.n(1, 7)
    _import_mcp(env)  # warm the OS page cache and .pyc files for both sides alike
    asyncio.run(_until_tools_listed(env))
    server: list[float] = []
    baseline: list[float] = []
    tool_counts: set[int] = set()
    for _ in range(runs):
        baseline.append(_import_mcp(env))
        seconds, tools = asyncio.run(_until_tools_listed(env))
        server.append(seconds)
        tool_counts.add(tools)
    pair = compare(Summary.of(server), Summary.of(baseline))
    return {
        "title": "Cold start: spawn `tradeexec mcp` (stdio) until list_tools() returns",
        "measured": True,
        "runs": runs,
        "tools_listed": sorted(tool_counts),
        "startup": pair,
        "rows": [
            {"metric": "spawn -> tools/list answered: p50 ms vs `python -c 'import mcp'`",
             "value": pair["subject"]["p50_ms"], "baseline": pair["baseline"]["p50_ms"],
             "ratio": pair["ratio_p50"]},
            {"metric": "worst run ms vs worst baseline", "value": rounded(max(server) * 1000, 1),
             "baseline": rounded(max(baseline) * 1000, 1), "ratio": rounded(max(server) / max(baseline))},
            {"metric": "tools listed (count)", "value": max(tool_counts), "baseline": None, "ratio": None},
        ],
    }
