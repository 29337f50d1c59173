"""Concurrent executes of one preview in one process: followers get the leader's final answer, each audited."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from services.preview_flights import PreviewFlights
from services.trade_execution import TradeExecutionService
from tests.core.conftest import ServiceFactory
from tests.core.test_execute_protocol import events
from tests.support.memory_broker import MemoryBroker


def test_followers_get_the_leaders_final_answer() -> None:
    flights = PreviewFlights(wait_seconds=30)
    preview_id = uuid.uuid4()
    inside = threading.Event()
    answers: list[object] = []

    def follower() -> None:
        inside.wait(10)
        with flights.join(preview_id) as flight:
            answers.append((flight.leader, flight.answer))

    thread = threading.Thread(target=follower)
    thread.start()
    with flights.join(preview_id) as leading:
        assert leading.leader
        inside.set()
        answer = TradeError(ErrorCode.ALREADY_EXECUTED, "done")
        while thread.is_alive() and not answers:
            leading.settle(answer)
            thread.join(0.05)
    thread.join(10)
    assert answers == [(False, answer)]


def test_a_leader_that_fails_leaves_its_followers_to_try_themselves() -> None:
    flights = PreviewFlights(wait_seconds=30)
    preview_id = uuid.uuid4()
    with pytest.raises(RuntimeError), flights.join(preview_id):
        raise RuntimeError("the database went away")
    with flights.join(preview_id) as flight:
        assert flight.leader and flight.answer is None  # nothing left behind: the next caller leads


def test_storm_in_one_process_one_order_and_every_refusal_audited(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    preview_id = service.preview_trade("DU111", "AAPL", "BUY", 1, "Limit", 100).preview_id
    gate = threading.Barrier(40)

    def execute(_: int) -> str:
        gate.wait(30)
        try:
            return service.execute_trade(preview_id).status
        except TradeError as exc:
            return exc.code.value

    with ThreadPoolExecutor(40) as pool:
        answers = Counter(pool.map(execute, range(40)))
    assert answers == {"ACCEPTED": 1, "ALREADY_EXECUTED": 39}
    assert broker.place_calls == 1
    trail = Counter(events(session_factory, preview_id=uuid.UUID(preview_id)))
    assert trail["EXECUTE_REFUSED"] == 39 and trail["ORDER_SUBMITTING"] == 1


def test_a_refusal_that_leaves_the_preview_usable_is_not_shared(
    make_service: ServiceFactory, broker: MemoryBroker
) -> None:
    service = make_service()
    preview_id = service.preview_trade("DU111", "AAPL", "SELL", 40, "Limit", 300).preview_id
    broker.accounts["DU111"].positions["AAPL"] = broker.accounts["DU111"].positions["AAPL"] - 20  # 30 left
    with pytest.raises(TradeError) as refused:
        service.execute_trade(preview_id)
    assert refused.value.code is ErrorCode.INSUFFICIENT_POSITION
    broker.accounts["DU111"].positions["AAPL"] += 20
    assert service.execute_trade(preview_id).status == "ACCEPTED"  # the flight left nothing behind
