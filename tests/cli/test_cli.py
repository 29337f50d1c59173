"""The `tradeexec` command as a subprocess: demo, db, healthcheck, reconcile, configuration errors, simulators."""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, pool, text

from db.engine import normalize_url
from mcp_tools.runtime import schema_head
from tests.mcp.process import REPO, base_env, broker_env, command, run_cli, running_simulators
from tests.support.database import fresh_test_database

pytestmark = pytest.mark.timeout(300)
_client_ids = itertools.count(300)


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


def test_demo_runs_the_whole_flow_without_a_configured_database(tmp_path: Path) -> None:
    env = base_env(HOME=str(tmp_path), TMPDIR=str(tmp_path), COLUMNS="160")
    result = run_cli("demo", env=env, timeout=280)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "demo complete" in out
    for marker in ("ibkr", "snaptrade", "EXECUTED", "CANCELED", "ALREADY_EXECUTED", "RISK_LIMIT", "UNSUPPORTED_ORDER",
                   "take_profit", "stop_loss", "bracket legs"):
        assert marker in out, marker
    assert out.count("refused as expected") == 5
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("tradeexec-demo-*")), "the throw-away database directory is removed"


def test_db_upgrade_current_downgrade_and_stamp(tmp_path: Path) -> None:
    with fresh_test_database() as url:
        env = base_env(DATABASE_URL=url, HOME=str(tmp_path))

        def current() -> dict[str, Any]:
            result = run_cli("db", "current", "--json", env=env)
            data = json.loads(result.stdout)
            assert result.returncode == (0 if data["up_to_date"] else 1)
            return data

        assert current() == {"current": None, "head": schema_head(), "up_to_date": False}
        assert run_cli("db", "upgrade", env=env).returncode == 0
        assert current()["up_to_date"] is True

        refused = run_cli("db", "downgrade", "te0001", env=env)
        assert refused.returncode == 1 and "nothing changed" in refused.stderr
        assert current()["current"] == schema_head()
        assert run_cli("db", "downgrade", "te0001", "--yes", env=env).returncode == 0
        assert current()["current"] == "te0001"

        # A SnapTrade-era deployment: the old tables exist but Alembic never ran here.
        engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE tradeexec_alembic_version"))
        engine.dispose()
        assert current()["current"] is None
        stamped = run_cli("db", "stamp", "te0001", env=env)
        assert stamped.returncode == 0 and "te0001" in stamped.stdout
        assert run_cli("db", "upgrade", env=env).returncode == 0
        assert current() == {"current": schema_head(), "head": schema_head(), "up_to_date": True}


def test_healthcheck_reports_every_component(database_url: str, simulators: dict[str, Any], tmp_path: Path) -> None:
    env = broker_env(database_url, simulators, tmp_path, next(_client_ids))
    result = run_cli("healthcheck", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] is True
    status = {c["component"]: c["status"] for c in report["checks"]}
    assert status == {"database": "ok", "broker ibkr": "ok", "broker snaptrade": "ok", "trading": "ok"}
    assert simulators["seeded"]["user_secret"] not in result.stdout


def test_healthcheck_fails_clearly_when_a_broker_is_down(
    database_url: str, simulators: dict[str, Any], tmp_path: Path
) -> None:
    env = broker_env(database_url, simulators, tmp_path, next(_client_ids), IBKR_GATEWAY_PORT="9")
    result = run_cli("healthcheck", "--timeout", "20", env=env)
    assert result.returncode == 1
    assert "unhealthy: broker ibkr" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_healthcheck_fails_clearly_when_the_database_is_down(tmp_path: Path) -> None:
    env = base_env(DATABASE_URL="postgresql://app:s3cr3t-password@127.0.0.1:9/app", HOME=str(tmp_path))
    result = run_cli("healthcheck", "--json", env=env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    assert [c["status"] for c in report["checks"] if c["component"] == "database"] == ["down"]
    assert "s3cr3t-password" not in result.stdout + result.stderr


def test_reconcile_settles_nothing_when_nothing_is_unknown(
    database_url: str, simulators: dict[str, Any], tmp_path: Path
) -> None:
    env = broker_env(database_url, simulators, tmp_path, next(_client_ids))
    result = run_cli("reconcile", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["examined"] == 0 and report["settled"] == {} and report["still_unknown"] == []
    assert report["failed"] == [] and report["errors"] == [] and report["corrected"] == {}


@pytest.mark.parametrize(("variable", "value"), [("TRADING_MODE", "yolo"), ("BROKERS", "ibkr,etrade")])
def test_bad_configuration_is_named_and_exits_2(tmp_path: Path, variable: str, value: str) -> None:
    result = run_cli("healthcheck", env=base_env(HOME=str(tmp_path), **{variable: value}))
    assert result.returncode == 2
    assert variable in result.stderr and "Traceback" not in result.stderr


def test_bench_refuses_unknown_figures(tmp_path: Path) -> None:
    result = run_cli("bench", "--only", "no-such-figure", env=base_env(HOME=str(tmp_path)))
    assert result.returncode == 2 and "no-such-figure" in result.stderr


@pytest.mark.parametrize(("name", "pattern"), [
    ("snaptrade", r"listening on http://127\.0\.0\.1:(\d+)"),
    ("ib-gateway", r"listening on 127\.0\.0\.1:(\d+)"),
])
def test_sim_commands_serve_until_stopped(tmp_path: Path, name: str, pattern: str) -> None:
    log_path = tmp_path / "sim.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command("sim", name, "--port", "0"), cwd=REPO, env=base_env(HOME=str(tmp_path)),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not re.search(pattern, log_path.read_text(errors="replace")):
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "still serving"
    finally:
        proc.terminate()
        # 0 once the simulator's own SIGTERM handler is installed; -SIGTERM if the signal came first.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
