"""`tradeexec quote|bars|pnl|account|options` as real subprocesses against both simulators (no database needed)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.mcp.process import IBKR_ACCOUNT, base_env, run_cli, running_simulators

pytestmark = pytest.mark.timeout(300)
_client_ids = itertools.count(420)


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


def env_for(simulators: dict[str, Any], brokers: str = "ibkr") -> dict[str, str]:
    seeded = simulators["seeded"]
    return base_env(
        BROKERS=brokers, IBKR_GATEWAY_PORT=str(simulators["gateway"].port), IBKR_CLIENT_ID=str(next(_client_ids)),
        SNAPTRADE_BASE_URL=simulators["snaptrade"].base_url, SNAPTRADE_CLIENT_ID=seeded["client_id"],
        SNAPTRADE_CONSUMER_KEY=seeded["consumer_key"], SNAPTRADE_USER_ID=seeded["user_id"],
        SNAPTRADE_USER_SECRET=seeded["user_secret"], COLUMNS="160",
    )


def test_quote_many_tickers_as_json_and_as_a_table(simulators: dict[str, Any]) -> None:
    env = env_for(simulators)
    result = run_cli("quote", "AAPL", "MSFT", "NOPE", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["account_id"] == IBKR_ACCOUNT and [q["ticker"] for q in data["quotes"]] == ["AAPL", "MSFT", "NOPE"]
    assert data["quotes"][0]["quote"]["last"] == "190" and data["quotes"][0]["quote"]["market_data"] == "live"
    assert data["quotes"][2]["error"]["error_code"] == "SYMBOL_NOT_FOUND"
    table = run_cli("quote", "AAPL", "SPY", env=env)
    assert table.returncode == 0 and "189.99" in table.stdout and "500.01" in table.stdout and "live" in table.stdout


def test_bars_table_chart_json_and_validation(simulators: dict[str, Any]) -> None:
    env = env_for(simulators)
    drawn = run_cli("bars", "AAPL", "--bar-size", "1 day", "--duration", "1 M", "--chart", env=env)
    assert drawn.returncode == 0, drawn.stderr
    assert "1 day over 1 M" in drawn.stdout and "┤" in drawn.stdout and "█" in drawn.stdout
    data = json.loads(run_cli("bars", "AAPL", "--bar-size", "1h", "--duration", "2 days", "--all-hours",
                              "--end", "2025-06-27T20:00:00-04:00", "--json", env=env).stdout)
    assert (data["bar_size"], data["duration"], data["rth_only"]) == ("1 hour", "2 D", False)
    assert len(data["bars"]) == 32 and set(data["bars"][0]) == {"time", "open", "high", "low", "close", "volume"}
    refused = run_cli("bars", "AAPL", "--bar-size", "7 min", env=env)
    assert refused.returncode == 1 and "VALIDATION_ERROR" in refused.stderr and "'5 mins'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_pnl_account_and_options(simulators: dict[str, Any]) -> None:
    env = env_for(simulators)
    pnl = run_cli("pnl", "--json", env=env)
    assert pnl.returncode == 0, pnl.stderr
    assert json.loads(pnl.stdout)["account_id"] == IBKR_ACCOUNT
    account = run_cli("account", "--json", env=env)
    summary = json.loads(account.stdout)
    assert summary["currency"] == "USD" and summary["net_liquidation"] is not None
    assert "excess liquidity" in run_cli("account", env=env).stdout
    chain = run_cli("options", "SPY", "--expiry", simulators["gateway"].option_expiry(), env=env)
    assert chain.returncode == 0 and "SPY" in chain.stdout and "delta" in chain.stdout


def test_snaptrade_unsupported_reads_and_account_choice(simulators: dict[str, Any]) -> None:
    env = env_for(simulators, "ibkr,snaptrade")
    ambiguous = run_cli("pnl", env=env)
    assert ambiguous.returncode == 1 and "--account" in ambiguous.stderr
    account = simulators["seeded"]["accounts"]["individual"]
    refused = run_cli("bars", "AAPL", "--account", account, env=env)
    assert refused.returncode == 1 and "UNSUPPORTED" in refused.stderr
    quoted = json.loads(run_cli("quote", "AAPL", "--account", account, "--json", env=env).stdout)
    assert quoted["provider"] == "snaptrade" and quoted["quotes"][0]["quote"]["market_data"] == "unknown"
