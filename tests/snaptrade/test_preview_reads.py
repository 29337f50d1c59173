"""A preview's four SnapTrade requests go out together (issue 13), as the calling platform user, and a failure
is reported exactly as when they went one after another.

Overlap is shown by count: the simulator holds the preview's requests until all four wait at once, and records
the most requests in flight; sent one by one, each would wait out the hold alone and the count would stay 1.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderRequest
from brokers.snaptrade import SnapTradeBrokerAdapter
from brokers.snaptrade.client import SnapTradeCredentials
from brokers.snaptrade.read_pool import ReadPool, answer
from brokers.snaptrade.user_credentials import MappedUserCredentials
from brokers.user_context import acting_for, current_user_email
from services.trade_execution import TradeExecutionService
from tests.snaptrade.conftest import USER_ID, ServiceFactory, World

PREVIEW_READS = r"/(quotes|impact|balances|positions/all)$"


def _paths(world: World) -> Counter[str]:
    return Counter(r.path.rsplit("/", 1)[-1] for r in world.sim.requests)


def test_a_preview_sends_its_four_requests_at_once_and_positions_once(
    world: World, service: TradeExecutionService
) -> None:
    service.preview_trade(world.paper, "AAPL", "BUY", 1)  # the account list and the symbol are cached after this
    world.sim.clear_requests()
    world.sim.hold(4, PREVIEW_READS)
    preview = service.preview_trade(world.paper, "AAPL", "SELL", 2)
    assert world.sim.max_in_flight == 4
    assert _paths(world) == {"quotes": 1, "impact": 1, "balances": 1, "all": 1}  # positions/all: once
    assert preview.estimated_price == Decimal("190.00")
    assert preview.impact["position_weight_before"] == str(Decimal(1900) / Decimal(101900))  # 10 held of cash + 10

    world.sim.clear_requests()
    for _ in range(3):
        service.preview_trade(world.paper, "AAPL", "BUY", 1)
    assert _paths(world) == {"quotes": 3, "impact": 3, "balances": 3, "all": 3}


def test_the_reads_act_for_the_calling_platform_user(world: World, session_factory: sessionmaker[Session]) -> None:
    """The pool's threads carry the caller's context: bob's reads are sent with bob's SnapTrade user."""
    world.sim.add_user("tradeexec-bob", "bob/secret+=")
    bobs = world.sim.add_account("tradeexec-bob", name="Bob Paper", number="BP-3003", cash=Decimal("20000"),
                                 institution="Alpaca Paper", is_paper=True)
    users = MappedUserCredentials({"bob@example.com": ("tradeexec-bob", SecretStr("bob/secret+="))},
                                  default=(USER_ID, SecretStr(world.user_secret)))
    adapter = SnapTradeBrokerAdapter(SnapTradeCredentials.from_settings(world.settings()), user_credentials=users)
    service = TradeExecutionService(world.settings(), session_factory, [adapter])
    try:
        world.sim.hold(4, PREVIEW_READS)
        preview = service.preview_order(bobs, "AAPL", "BUY", 1, user_email="bob@example.com")
        assert preview.user_email == "bob@example.com" and world.sim.max_in_flight == 4
        users_seen = {(r.path.rsplit("/", 1)[-1], r.query["userId"]) for r in world.sim.requests}
        assert {p for p, _ in users_seen} >= {"quotes", "impact", "balances", "all"}
        assert {u for _, u in users_seen} == {"tradeexec-bob"}
    finally:
        service.close()


@pytest.mark.parametrize(("faults", "code", "operation"), [
    ([("/trade/impact$", 403)], ErrorCode.BROKER_REJECTED, "check the order impact"),
    ([("/trade/impact$", 500)], ErrorCode.BROKER_UNAVAILABLE, "check the order impact"),
    ([("/balances$", 503)], ErrorCode.BROKER_UNAVAILABLE, "get balances"),
    ([("/balances$", 404)], ErrorCode.ACCOUNT_NOT_FOUND, "get balances"),
    ([("/positions/all$", 503)], ErrorCode.BROKER_UNAVAILABLE, "get positions"),
    ([("/positions/all$", 500), ("/balances$", 503)], ErrorCode.BROKER_UNAVAILABLE, "get balances"),  # read first
    ([("/balances$", 503), ("/trade/impact$", 403)], ErrorCode.BROKER_REJECTED, "check the order impact"),
])
def test_a_failed_request_fails_the_preview_as_when_they_went_one_by_one(
    world: World, service: TradeExecutionService, faults: list[tuple[str, int]], code: ErrorCode, operation: str
) -> None:
    """The impact's error first (a read beside it is discarded), then the balances', then the positions'."""
    service.preview_trade(world.paper, "AAPL", "BUY", 1)
    world.sim.hold(4, PREVIEW_READS)  # all four sent, whichever fails
    for path, status in faults:
        world.sim.inject_fault(path_regex=path, status=status)
    with pytest.raises(TradeError) as failed:
        service.preview_trade(world.paper, "AAPL", "BUY", 1)
    assert (failed.value.code, failed.value.details["operation"]) == (code, operation)
    assert world.sim.max_in_flight == 4


def test_a_check_on_the_preview_refuses_before_a_failed_read(world: World, make_service: ServiceFactory) -> None:
    """The price band needs only the preview: it still refuses first, as when the reads came after it."""
    service = make_service(PRICE_BAND_PCT=5)
    service.preview_trade(world.paper, "AAPL", "BUY", 1)
    world.sim.inject_fault(path_regex="/balances$", status=503)
    with pytest.raises(TradeError) as refused:
        service.preview_trade(world.paper, "AAPL", "BUY", 1, "Limit", "150")
    assert refused.value.code is ErrorCode.RISK_LIMIT


def test_a_quote_that_fails_leaves_a_warning(world: World, service: TradeExecutionService) -> None:
    service.preview_trade(world.paper, "AAPL", "BUY", 1)
    world.sim.inject_fault(path_regex="/quotes$", status=503)
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 1)
    assert any(w.startswith("no quote from SnapTrade") for w in preview.warnings)


def test_an_unknown_symbol_sends_no_reads(world: World, service: TradeExecutionService) -> None:
    service.preview_trade(world.paper, "AAPL", "BUY", 1)
    world.sim.clear_requests()
    with pytest.raises(TradeError) as unknown:
        service.preview_trade(world.paper, "NOPE", "BUY", 1)
    assert unknown.value.code is ErrorCode.SYMBOL_NOT_FOUND
    assert set(_paths(world)) == {"symbols"}  # the search only: nothing was sent beside it


def test_a_closed_adapter_refuses_reads(world: World, adapter: SnapTradeBrokerAdapter) -> None:
    adapter.preview_order(OrderRequest(account_id=world.paper, ticker="AAPL", side="BUY", quantity=Decimal(1)))
    adapter.close()
    with pytest.raises(TradeError) as closed:
        adapter.preview_order(OrderRequest(account_id=world.paper, ticker="AAPL", side="BUY", quantity=Decimal(1)))
    assert closed.value.code is ErrorCode.BROKER_UNAVAILABLE


def test_reads_run_as_the_caller_and_those_close_dropped_are_broker_unavailable() -> None:
    pool = ReadPool(workers=1)
    gate = threading.Event()
    try:
        with acting_for("carol@example.com"):
            first = pool.start(lambda: gate.wait(10) and current_user_email())
        queued = pool.start(current_user_email)  # behind the first on the only worker
        pool.close()
    finally:
        gate.set()
    assert answer(first) == "carol@example.com"
    with pytest.raises(TradeError) as dropped:
        answer(queued)
    assert dropped.value.code is ErrorCode.BROKER_UNAVAILABLE
