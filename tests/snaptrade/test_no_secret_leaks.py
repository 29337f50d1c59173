"""The user secret and the consumer key appear in no log line, error, stored row or output,
in any encoding, even with every logger at DEBUG and every failure path exercised."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import TradeError
from tests.snaptrade.conftest import TRADE_PATH, ServiceFactory, World


def forms(secret: str) -> set[str]:
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}


def stored_rows(factory: sessionmaker[Session]) -> str:
    with factory() as session:
        dumped = [
            json.dumps([list(map(str, row)) for row in session.execute(text(f"SELECT * FROM {table}"))])
            for table in ("trade_previews", "trade_orders", "trade_events")
        ]
    return "\n".join(dumped)


def test_no_secret_anywhere(
    world: World, make_service: ServiceFactory, session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    service = make_service(SNAPTRADE_TIMEOUT_SECONDS=2.0, RECONCILE_SETTLE_SECONDS=2)
    service.list_tradeable_accounts()
    done = service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", 1).preview_id)
    service.get_order_status(done.order_id)

    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=None, process=True, hang_seconds=30)
    lost = service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", 2, "Limit", "180").preview_id)
    messages.append(lost.error_message or "")
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=500,
                           body={"detail": f"echoing userSecret={world.user_secret} and {world.consumer_key}"})
    echoed = service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", 3).preview_id)
    messages.append(echoed.error_message or "")
    service.reconcile()
    service.cancel_order(lost.order_id)

    world.sim.inject_fault(method="GET", path_regex="/positions/all$", status=200, hang_seconds=30)
    for action in (
        lambda: service.get_positions(world.paper),
        lambda: make_service(SNAPTRADE_CONSUMER_KEY=world.consumer_key + "x").list_tradeable_accounts(),
        lambda: make_service(SNAPTRADE_USER_SECRET=world.user_secret + "x").list_tradeable_accounts(),
    ):
        with pytest.raises(TradeError) as failed:
            action()
        messages.append(json.dumps(failed.value.to_dict()))

    out, err = capfd.readouterr()
    haystacks = {"log": caplog.text, "stdout": out, "stderr": err, "errors": "\n".join(messages),
                 "database": stored_rows(session_factory)}
    assert "userSecret" in caplog.text  # the URLs were logged at DEBUG, with the value masked
    for secret in world.secrets:
        for form in forms(secret) | forms(secret + "x"):
            for where, haystack in haystacks.items():
                assert form not in haystack, f"a secret leaked into {where}"
