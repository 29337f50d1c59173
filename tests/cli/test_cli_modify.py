"""`tradeexec preview-modification|execute-modification` as real subprocesses, against the IB Gateway simulator."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.cli import test_cli_orders as orders
from tests.cli.test_cli_orders import on_a_terminal, preview
from tests.mcp.process import run_cli

simulators = orders.simulators  # the same fixtures: one simulator pair per module, a fresh env per test
env = orders.env


def order_events(engine: Engine, order_id: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_type FROM trade_events WHERE order_id = :o ORDER BY id"),
                            {"o": order_id})
        return [r[0] for r in rows]


def working_order(env: dict[str, str]) -> dict[str, Any]:
    shown = preview(env, "--order-type", "Limit", "--limit-price", "150.5", "--time-in-force", "GTC")
    placed = run_cli("execute-trade", shown["preview_id"], "--yes", "--json", env=env)
    assert placed.returncode == 0, placed.stderr
    order = dict(json.loads(placed.stdout))
    assert order["status"] == "ACCEPTED"
    return order


def test_preview_then_refused_without_a_terminal_then_applied_once(env: dict[str, str], engine: Engine) -> None:
    order = working_order(env)
    previewed = run_cli("preview-modification", order["order_id"], "--limit-price", "151.25", "--quantity", "3",
                        "--json", env=env)
    assert previewed.returncode == 0, previewed.stderr
    change = json.loads(previewed.stdout)
    assert change["status"] == "ACTIVE" and change["new_terms"]["limit_price"] == "151.25"
    table = run_cli("preview-modification", order["order_id"], "--limit-price", "151.25", env=env)
    assert table.returncode == 0 and "limit_price: 150.5 -> 151.25" in table.stdout, table.stdout

    refused = run_cli("execute-modification", change["modification_id"], env=env)  # stdin /dev/null: no terminal
    assert refused.returncode == 1 and "TRADING_DISABLED" in refused.stderr and "--yes" in refused.stderr
    applied = run_cli("execute-modification", change["modification_id"], "--yes", "--json", env=env)
    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert result["status"] == "APPLIED" and result["order"]["limit_price"] == "151.25"
    assert result["order"]["quantity"] == "3"
    again = run_cli("execute-modification", change["modification_id"], "--yes", env=env)
    assert again.returncode == 1 and "ALREADY_EXECUTED" in again.stderr

    status = json.loads(run_cli("get-orders-status", order["order_id"], "--json", env=env).stdout)
    assert status["orders"][0]["order"]["limit_price"] == "151.25"
    events = order_events(engine, order["order_id"])
    assert events.count("MODIFICATION_APPLIED") == 1 and events.count("MODIFICATION_REFUSED") == 2
    assert "Traceback" not in refused.stderr + applied.stderr + again.stderr


def test_execute_modification_asks_on_the_terminal(env: dict[str, str], engine: Engine) -> None:
    order = working_order(env)
    change = json.loads(run_cli("preview-modification", order["order_id"], "--limit-price", "149", "--json",
                                env=env).stdout)
    args = ["execute-modification", change["modification_id"]]
    code, output = on_a_terminal(args, env, b"n\n", question=b"Apply this change?")
    assert code == 1 and "limit_price: 150.5 -> 149" in output and "CONFIRMATION_DECLINED" in output, output
    assert order_events(engine, order["order_id"])[-1] == "MODIFICATION_DECLINED"
    code, output = on_a_terminal(args, env, b"y\n", question=b"Apply this change?")
    assert code == 0 and "APPLIED" in output, output


def test_a_filled_order_and_bad_terms_are_refused(env: dict[str, str], engine: Engine) -> None:
    order = working_order(env)
    market = run_cli("preview-modification", order["order_id"], "--trailing-percent", "2", env=env)
    assert market.returncode == 1 and "VALIDATION_ERROR" in market.stderr and "trailing_percent" in market.stderr
    nothing = run_cli("preview-modification", order["order_id"], env=env)
    assert nothing.returncode == 1 and "VALIDATION_ERROR" in nothing.stderr
    unknown = run_cli("preview-modification", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "--quantity", "5", env=env)
    assert unknown.returncode == 1 and "ORDER_NOT_FOUND" in unknown.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trade_modifications")).scalar_one() == 0
