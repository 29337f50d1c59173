"""`tradeexec preview-trade|execute-trade|get-orders-status|cancel-orders` as real subprocesses.

Against the IB Gateway simulator and the real test database: the human is asked on a real
pseudo-terminal, a run without a terminal and without --yes places nothing (audited).
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.mcp.process import IBKR_ACCOUNT, REPO, broker_env, command, run_cli, running_simulators

pytestmark = pytest.mark.timeout(300)
_client_ids = itertools.count(520)


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


@pytest.fixture
def env(database_url: str, simulators: dict[str, Any], tmp_path: Path, engine: Engine) -> Iterator[dict[str, str]]:
    yield broker_env(database_url, simulators, tmp_path, next(_client_ids), BROKERS="ibkr", COLUMNS="200")
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE trade_events, trade_modifications, trade_orders, trade_previews, trade_approvals"))


def preview(env: dict[str, str], *extra: str) -> dict[str, Any]:
    result = run_cli("preview-trade", "--account-id", IBKR_ACCOUNT, "--ticker", "AAPL", "--side", "BUY",
                     "--quantity", "2", *extra, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def on_a_terminal(args: list[str], env: dict[str, str], answer: bytes,
                  question: bytes = b"Place this order?") -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin, answer its question, return (exit code, everything shown)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(command(*args), cwd=REPO, env=env, stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    os.close(slave)
    shown = b""
    try:
        deadline = time.monotonic() + 120
        while question not in shown and proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready and proc.stdout is not None:
                shown += os.read(proc.stdout.fileno(), 65536)
        os.write(master, answer)
        rest, _ = proc.communicate(timeout=120)
        return proc.returncode, (shown + rest).decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def events(engine: Engine, preview_id: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_type FROM trade_events WHERE preview_id = :p ORDER BY id"),
                            {"p": preview_id})
        return [r[0] for r in rows]


def test_preview_then_refused_without_a_terminal_then_executed_with_yes(env: dict[str, str], engine: Engine) -> None:
    shown = preview(env, "--order-type", "Limit", "--limit-price", "150.5", "--time-in-force", "GTC")
    assert shown["order_type"] == "Limit" and shown["limit_price"] == "150.5" and shown["status"] == "ACTIVE"
    table = run_cli("preview-trade", "--account-id", IBKR_ACCOUNT, "--ticker", "AAPL", "--side", "BUY",
                    "--quantity", "1", env=env)
    assert table.returncode == 0 and "BUY 1 AAPL Market Day" in table.stdout and "execute-trade" in table.stdout

    refused = run_cli("execute-trade", shown["preview_id"], env=env)  # stdin is /dev/null: no terminal
    assert refused.returncode == 1 and "TRADING_DISABLED" in refused.stderr and "--yes" in refused.stderr
    assert "EXECUTE_REFUSED" in events(engine, shown["preview_id"])
    assert "ORDER_SUBMITTING" not in events(engine, shown["preview_id"])

    placed = run_cli("execute-trade", shown["preview_id"], "--yes", "--json", env=env)
    assert placed.returncode == 0, placed.stderr
    order = json.loads(placed.stdout)
    assert order["status"] == "ACCEPTED" and order["placed"] is True and order["brokerage_order_id"]
    again = run_cli("execute-trade", shown["preview_id"], "--yes", env=env)
    assert again.returncode == 1 and "ALREADY_EXECUTED" in again.stderr

    status = run_cli("get-orders-status", order["order_id"], "--json", env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["orders"][0]["order"]["status"] == "ACCEPTED"
    unknown = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    cancelled = run_cli("cancel-orders", order["order_id"], unknown, env=env)
    assert cancelled.returncode == 1, "one of the two could not be cancelled"
    assert "CANCELED" in cancelled.stdout and f"{unknown}: ORDER_NOT_FOUND" in cancelled.stdout
    after = json.loads(run_cli("get-orders-status", order["order_id"], "--json", env=env).stdout)
    assert after["orders"][0]["order"]["status"] == "CANCELED"
    assert "Traceback" not in refused.stderr + placed.stderr + cancelled.stderr


def test_execute_asks_on_the_terminal_and_a_no_places_nothing(env: dict[str, str], engine: Engine) -> None:
    shown = preview(env)
    code, output = on_a_terminal(["execute-trade", shown["preview_id"]], env, b"n\n")
    assert code == 1 and "BUY 2 AAPL Market Day" in output and "CONFIRMATION_DECLINED" in output, output
    assert events(engine, shown["preview_id"])[-1] == "EXECUTE_DECLINED"
    code, output = on_a_terminal(["execute-trade", shown["preview_id"]], env, b"y\n")
    assert code == 0 and "EXECUTED" in output, output
    assert "ORDER_SUBMITTED" in events(engine, shown["preview_id"])


def test_bad_terms_are_one_validation_error_and_store_nothing(env: dict[str, str], engine: Engine) -> None:
    bad = run_cli("preview-trade", "--account-id", IBKR_ACCOUNT, "--ticker", "AAPL", "--side", "HOLD",
                  "--quantity", "-1", "--order-type", "Limit", env=env)
    assert bad.returncode == 1 and "VALIDATION_ERROR" in bad.stderr
    assert "side" in bad.stderr and "quantity" in bad.stderr and "limit_price" in bad.stderr
    malformed = run_cli("execute-trade", "not-an-id", "--yes", env=env)
    assert malformed.returncode == 1 and "PREVIEW_NOT_FOUND" in malformed.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trade_previews")).scalar_one() == 0


def test_preview_trade_takes_the_instrument_options(env: dict[str, str], engine: Engine,
                                                   simulators: dict[str, Any]) -> None:
    # a GBP ledger, so the account summary has the GBP exchange rate MAX_ORDER_NOTIONAL converts VOD with
    simulators["gateway"].market_data.set_foreign_cash(IBKR_ACCOUNT, "GBP", "1000", "1.27")
    exposure = {**env, "MAX_ORDER_NOTIONAL": "100000"}  # 1 MES is 25,000 of notional exposure
    future = run_cli("preview-trade", "--account-id", IBKR_ACCOUNT, "--ticker", "MES", "--sec-type", "FUT",
                     "--side", "BUY", "--quantity", "1", env=exposure)
    assert future.returncode == 0, future.stderr
    assert "BUY 1 contracts MES (FUT MES" in future.stdout and "on CME, expiry" in future.stdout
    option = run_cli("preview-trade", "--account-id", IBKR_ACCOUNT, "--ticker", "SPY", "--sec-type", "OPT",
                     "--strike", "510", "--right", "C", "--side", "BUY", "--quantity", "1", "--json", env=env)
    assert option.returncode == 1 and "VALIDATION_ERROR" in option.stderr and "expiry" in option.stderr
    listing = run_cli("preview-trade", "--account-id", IBKR_ACCOUNT, "--ticker", "VOD", "--exchange", "LSE",
                      "--side", "BUY", "--quantity", "10", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    shown = json.loads(listing.stdout)
    assert (shown["currency"], shown["instrument"]["exchange"]) == ("GBP", "LSE")
    assert shown["conversion"]["exchange_rate"] == "1.27" and shown["conversion"]["account_currency"] == "USD"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trade_previews")).scalar_one() == 2


def test_a_bracket_from_the_terminal(env: dict[str, str], engine: Engine) -> None:
    shown = preview(env, "--order-type", "Limit", "--limit-price", "185", "--time-in-force", "GTC",
                    "--take-profit-price", "200", "--stop-loss-price", "180")
    assert [leg["role"] for leg in shown["legs"]] == ["entry", "take_profit", "stop_loss"]
    table = run_cli("preview-trade", "--account-id", IBKR_ACCOUNT, "--ticker", "AAPL", "--side", "BUY",
                    "--quantity", "2", "--order-type", "Limit", "--limit-price", "185", "--take-profit-price", "200",
                    "--stop-loss-price", "180", env=env)
    assert "take-profit SELL 2 Limit 200" in table.stdout and "stop-loss SELL 2 Stop 180" in table.stdout
    wrong = run_cli("preview-trade", "--account-id", IBKR_ACCOUNT, "--ticker", "AAPL", "--side", "BUY",
                    "--quantity", "2", "--order-type", "Limit", "--limit-price", "185", "--stop-loss-price", "190",
                    env=env)
    assert wrong.returncode == 1 and "VALIDATION_ERROR" in wrong.stderr and "stop_loss_price" in wrong.stderr

    placed = run_cli("execute-trade", shown["preview_id"], "--yes", env=env)
    assert placed.returncode == 0, placed.stderr
    assert all(role in placed.stdout for role in ("entry", "take_profit", "stop_loss"))
    order = json.loads(run_cli("get-orders-status", *_set_ids(engine, shown["preview_id"]), "--json",
                               env=env).stdout)
    assert [o["order"]["status"] for o in order["orders"]] == ["ACCEPTED", "PENDING", "PENDING"]
    entry = order["orders"][0]["order_id"]
    cancelled = run_cli("cancel-orders", entry, "--json", env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    [result] = json.loads(cancelled.stdout)["orders"]
    assert [leg["status"] for leg in result["order"]["legs"]] == ["CANCELED"] * 3


def _set_ids(engine: Engine, preview_id: str) -> list[str]:
    with engine.connect() as conn:
        entry = conn.execute(text("SELECT id FROM trade_orders WHERE preview_id = :p"), {"p": preview_id}).scalar_one()
        children = conn.execute(text("SELECT id FROM trade_orders WHERE parent_order_id = :e ORDER BY leg_role DESC"),
                                {"e": entry}).scalars()
        return [str(entry), *(str(c) for c in children)]
