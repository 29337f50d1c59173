"""Executes per second with 1, 2 and 4 `tradeexec api` processes on one database (docs/scaling.md).

    python -m bench.scale_out [--previews 60] [--processes 1,2,4]      # BENCH_DATABASE_URL or embedded

Each run: a fresh migrated database, the SnapTrade simulator in this process, N API processes
(BROKERS=snaptrade, ORDERS_ENABLED=true), M previews made first, then every preview executed once,
round-robin over the processes by 4 clients per process; executes/s = M / wall time of that phase.
All previews are on one paper account, so the per-account check at execute serializes them: the
figure is the single-account ceiling, the worst case for scaling out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2

from bench.database import bench_server_url, fresh_bench_database

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"tradeexec API listening on (http://\S+) ")
TOKEN = "bench-scale-out-token-0123456789"


def start_api(env: dict[str, str], log_dir: Path, stack: ExitStack) -> str:
    log_path = log_dir / f"api-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "api", "--port", "0"], cwd=REPO, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    stack.callback(proc.wait, 20)
    stack.callback(proc.terminate)
    deadline = time.monotonic() + 90
    while not (match := LISTENING.search(log_path.read_text(errors="replace"))):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"API process did not start:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.05)
    url = match.group(1)
    while httpx2.get(f"{url}/health", timeout=10).json().get("service") != "ready":
        if time.monotonic() > deadline:
            raise RuntimeError("API process did not become ready")
        time.sleep(0.1)
    return url


def one_run(server_url: str, processes: int, previews: int) -> dict[str, Any]:
    from simulators.snaptrade import SnapTradeSimulator

    headers = {"Authorization": f"Bearer {TOKEN}"}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        database = stack.enter_context(fresh_bench_database(server_url))
        sim = stack.enter_context(SnapTradeSimulator())
        seeded = sim.seed_demo()
        env = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "TMPDIR"}}
        env.update({
            "PYTHONPATH": str(REPO), "HOME": tmp, "TRADEEXEC_DATA_DIR": tmp, "DATABASE_URL": database,
            "BROKERS": "snaptrade", "SNAPTRADE_BASE_URL": sim.base_url, "SNAPTRADE_CLIENT_ID": seeded["client_id"],
            "SNAPTRADE_CONSUMER_KEY": seeded["consumer_key"], "SNAPTRADE_USER_ID": seeded["user_id"],
            "SNAPTRADE_USER_SECRET": seeded["user_secret"], "TRADING_MODE": "paper", "ORDERS_ENABLED": "true",
            "API_AUTH_TOKEN": TOKEN, "LOG_FORMAT": "json",
        })
        urls = [start_api(env, Path(tmp), stack) for _ in range(processes)]
        account = str(seeded["accounts"]["paper"])
        ids = [httpx2.post(f"{urls[0]}/v1/previews", headers=headers, timeout=60, json={
            "account_id": account, "ticker": "SPY", "side": "BUY", "quantity": "1", "order_type": "Limit",
            "limit_price": "1"}).json()["preview_id"] for _ in range(previews)]

        def execute(index: int) -> int:
            url = urls[index % processes]
            return httpx2.post(f"{url}/v1/executions", headers=headers, timeout=120,
                               json={"preview_id": ids[index]}).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4 * processes) as pool:
            statuses = list(pool.map(execute, range(previews)))
        elapsed = time.perf_counter() - started
        placed = sim.placed_order_count
    return {"processes": processes, "previews": previews, "seconds": round(elapsed, 2),
            "executes_per_second": round(previews / elapsed, 1), "ok": statuses.count(200), "placed": placed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previews", type=int, default=60)
    parser.add_argument("--processes", default="1,2,4")
    args = parser.parse_args(argv)
    server_url, source = bench_server_url()
    runs = [one_run(server_url, int(n), args.previews) for n in args.processes.split(",")]
    print(json.dumps({"database": source, "cpus": os.cpu_count(), "runs": runs}, indent=2))
    return 0 if all(r["ok"] == r["previews"] == r["placed"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
