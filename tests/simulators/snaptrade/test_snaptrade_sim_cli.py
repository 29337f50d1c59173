"""`python -m simulators.snaptrade` and `serve()`: start, print credentials, serve the SDK, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from snaptrade_client import SnapTrade, SnapTradeAuth

from simulators.snaptrade import SnapTradeSimulator, serve

REPO = Path(__file__).resolve().parents[3]


def _read_settings(proc: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    settings: dict[str, str] = {}
    assert proc.stdout is not None
    while "SNAPTRADE_USER_SECRET" not in settings:
        assert time.monotonic() < deadline, f"no credentials printed: {settings}"
        line = proc.stdout.readline()
        assert line, "simulator exited early"
        if line.startswith("SNAPTRADE_") and "=" in line:
            key, value = line.strip().split("=", 1)
            settings[key] = value
    return settings


def test_module_entry_point_serves_the_sdk_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.snaptrade", "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        settings = _read_settings(proc, time.monotonic() + 30)
        assert settings["SNAPTRADE_BASE_URL"].startswith("http://127.0.0.1:")
        client = SnapTrade(
            auth=SnapTradeAuth.commercial_api_key(
                consumer_key=settings["SNAPTRADE_CONSUMER_KEY"], client_id=settings["SNAPTRADE_CLIENT_ID"]),
            host=settings["SNAPTRADE_BASE_URL"],
        )
        accounts = client.account_information.list_all_user_accounts(
            user_id=settings["SNAPTRADE_USER_ID"], user_secret=settings["SNAPTRADE_USER_SECRET"]).body
        assert len(accounts["results"]) == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_function_runs_until_stop_event() -> None:
    stop = threading.Event()
    lines: list[str] = []
    started: list[SnapTradeSimulator] = []
    worker = threading.Thread(
        target=serve, kwargs={"port": 0, "out": lines.append, "ready": started.append, "stop_event": stop},
        daemon=True,
    )
    worker.start()
    deadline = time.monotonic() + 10
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started, "serve() never became ready"
    sim = started[0]
    assert f"SNAPTRADE_BASE_URL={sim.base_url}" in lines
    assert "SNAPTRADE_USER_SECRET=demo-secret" in lines
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert lines[-1] == "SnapTrade simulator stopped"


def test_seed_demo_ids_are_stable_across_instances() -> None:
    first, second = SnapTradeSimulator(), SnapTradeSimulator()
    a, b = first.seed_demo(), second.seed_demo()
    assert a["accounts"] == b["accounts"]
    assert a["symbols"] == b["symbols"]
    assert a["authorization_ids"] == b["authorization_ids"]
    assert a["base_url"] is None  # not started
