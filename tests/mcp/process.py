"""Running `tradeexec mcp` as a real subprocess and connecting the SDK's client to it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on (http://\S+/mcp)")


def command(*args: str) -> list[str]:
    """`tradeexec ...` through the module, so it works with or without the console script installed."""
    return [sys.executable, "-m", "cli", *args]


def base_env(**overrides: str) -> dict[str, str]:
    """A clean environment: nothing from the developer's shell (no DATABASE_URL, no credentials)."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR"}}
    return {**keep, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **overrides}


def stdio_client(env: dict[str, str], mode: str = "legacy", **options: Any) -> Client:
    params = StdioServerParameters(command=sys.executable, args=["-m", "cli", "mcp"], env=env, cwd=str(REPO))
    return Client(params, mode=mode, **options)


@dataclass
class Served:
    """A `tradeexec` server subprocess: its URL, the process, and its log (stdout and stderr)."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def http_server(env: dict[str, str], tmp_path: Path, *args: str, timeout: float = 60) -> Iterator[str]:
    """Start `tradeexec mcp --transport http --port 0 ...`, yield its URL, stop it afterwards."""
    with serving(["mcp", "--transport", "http", *args], env, tmp_path, LISTENING, timeout, name="mcp-http") as served:
        yield served.url


@contextmanager
def serving(args: list[str], env: dict[str, str], tmp_path: Path, listening: re.Pattern[str],
            timeout: float = 60, name: str | None = None) -> Iterator[Served]:
    """Start `tradeexec <args> --port 0` (unless args name a port), yield it once `listening` finds its URL
    in the log; stop it afterwards
    (unless the test already has). Its log is `<name>-<n>.log` in tmp_path (name: the command's)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / f"{name or args[0]}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command(*args, *(() if "--port" in args else ("--port", "0"))),
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    served = Served("", proc, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            match = listening.search(served.log())
            if match:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"`tradeexec {args[0]}` did not start:\n{served.log()}")
            time.sleep(0.05)
        served.url = match.group(1)
        yield served
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def http_client(url: str, token: str | None = None, **options: Any) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=120.0))
    return Client(streamable_http_client(url, http_client=client), **options)


def run_cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


IBKR_ACCOUNT = "DU7654321"


@contextmanager
def running_simulators() -> Iterator[dict[str, Any]]:
    """Both simulators in this process: an IB Gateway with one paper account, a seeded SnapTrade API."""
    from simulators.ib_gateway import IBGatewaySimulator
    from simulators.snaptrade import SnapTradeSimulator

    gateway = IBGatewaySimulator(port=0, accounts=(IBKR_ACCOUNT,))
    gateway.start()
    try:
        with SnapTradeSimulator() as snaptrade:
            yield {"gateway": gateway, "snaptrade": snaptrade, "seeded": snaptrade.seed_demo()}
    finally:
        gateway.close()


def broker_env(database_url: str, simulators: dict[str, Any], tmp_path: Path, client_id: int,
               **overrides: str) -> dict[str, str]:
    seeded = simulators["seeded"]
    settings = {
        "DATABASE_URL": database_url, "TRADEEXEC_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path),
        "BROKERS": "ibkr,snaptrade", "IBKR_GATEWAY_HOST": "127.0.0.1",
        "IBKR_GATEWAY_PORT": str(simulators["gateway"].port), "IBKR_CLIENT_ID": str(client_id),
        "SNAPTRADE_BASE_URL": simulators["snaptrade"].base_url, "SNAPTRADE_CLIENT_ID": seeded["client_id"],
        "SNAPTRADE_CONSUMER_KEY": seeded["consumer_key"], "SNAPTRADE_USER_ID": seeded["user_id"],
        "SNAPTRADE_USER_SECRET": seeded["user_secret"], "TRADING_MODE": "paper", "ORDERS_ENABLED": "true",
        "MAX_ORDER_NOTIONAL": "5000",
    }
    return base_env(**{**settings, **overrides})
