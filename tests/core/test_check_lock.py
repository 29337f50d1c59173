"""The execute-time holdings check lock: per account and side, held by the intent until its commit.

A sell holding the lock makes a second sell of the same account wait for it (so both can never
pass on the same shares), while a buy of the same account, which spends cash and not shares, goes
through. Observed in pg_locks, never by timing.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.engine import transaction
from db.models import TradePreview
from services.execute_sql import EXECUTE_CHECK_LOCK_CLASS
from services.trade_execution import TradeExecutionService
from tests.core.conftest import ServiceFactory
from tests.support.memory_broker import MemoryBroker

LOCKS = text("""
SELECT l.objid::bigint AS key, l.granted FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.classid = :lock_class AND l.objsubid = 2
""")
KEY = text("SELECT (hashtext(:key)::bigint & 4294967295) AS key")


def _locks(engine: Engine) -> list[tuple[int, bool]]:
    with engine.connect() as conn:
        return [(int(k), bool(g)) for k, g in conn.execute(LOCKS, {"lock_class": EXECUTE_CHECK_LOCK_CLASS})]


def _key(engine: Engine, key: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(KEY, {"key": key}).scalar_one())


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw: {what}")
        time.sleep(0.02)


def test_a_sell_waits_for_a_sell_of_the_same_account_but_not_for_a_buy(
    make_service: ServiceFactory, broker: MemoryBroker, engine: Engine
) -> None:
    at_commit = threading.Event()
    release = threading.Event()

    def hold_first_sell(point: str) -> None:
        if point == "before_intent_commit" and threading.current_thread().name == "first-sell":
            at_commit.set()
            release.wait(30)

    service: TradeExecutionService = make_service(checkpoint=hold_first_sell)
    first = service.preview_trade("DU111", "AAPL", "SELL", 30, "Limit", 300).preview_id
    second = service.preview_trade("DU111", "AAPL", "SELL", 30, "Limit", 300).preview_id
    buy = service.preview_trade("DU111", "AAPL", "BUY", 1, "Limit", 100).preview_id
    results: dict[str, Any] = {}

    def run(name: str, preview_id: str) -> threading.Thread:
        def target() -> None:
            try:
                results[name] = service.execute_trade(preview_id).status
            except TradeError as exc:
                results[name] = exc.code

        thread = threading.Thread(target=target, name=name)
        thread.start()
        return thread

    threads = [run("first-sell", first)]
    at_commit.wait(30)
    sell_key, buy_key = _key(engine, "ibkr:DU111:SELL"), _key(engine, "ibkr:DU111:BUY")
    assert _locks(engine) == [(sell_key, True)]  # taken by the intent statement itself

    threads.append(run("second-sell", second))
    _wait_for(lambda: (sell_key, False) in _locks(engine), "the second sell waiting on the check lock")
    threads.append(run("buy", buy))
    _wait_for(lambda: "buy" in results, "the buy placed while the sell holds its lock")
    assert results["buy"] == "ACCEPTED" and "second-sell" not in results
    assert (buy_key, True) not in _locks(engine)  # released at the buy's intent commit

    release.set()
    for thread in threads:
        thread.join(30)
    assert results["first-sell"] == "ACCEPTED"
    assert results["second-sell"] == ErrorCode.INSUFFICIENT_POSITION  # 30 + 30 > 50 held
    assert broker.place_calls == 2
    assert _locks(engine) == []


class _Stop(BaseException):
    """Ends the execute at the checkpoint: the intent rolls back and nothing reaches the broker."""


def test_a_bracket_takes_both_sides_locks(
    make_service: ServiceFactory, broker: MemoryBroker, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """A bracket's exits are orders of the other side (they count in the other side's checks): both locks."""
    seen: list[list[tuple[int, bool]]] = []

    def look(point: str) -> None:
        if point == "before_intent_commit":
            seen.append(sorted(_locks(engine)))
            raise _Stop

    service: TradeExecutionService = make_service(checkpoint=look)
    preview_id = service.preview_trade("DU111", "AAPL", "BUY", 2, "Limit", 190).preview_id
    with transaction(session_factory) as session:  # the terms a bracket preview carries
        session.execute(update(TradePreview).where(TradePreview.id == uuid.UUID(preview_id)).values(
            order_options={"take_profit_price": "200", "stop_loss_price": "180"}))
    with pytest.raises(_Stop):
        service.execute_trade(preview_id)
    keys = sorted([(_key(engine, "ibkr:DU111:BUY"), True), (_key(engine, "ibkr:DU111:SELL"), True)])
    assert seen == [keys]
    assert _locks(engine) == [] and broker.place_calls == 0
