"""The execute-time balance and position reads answer from what the loop thread published, with no trip to
that thread, and fall back to the loop thread (and its errors) whenever that would answer differently."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.connection import IBKRConnectionManager
from brokers.ibkr.lifecycle import ConnectionState
from brokers.models import OrderRequest
from brokers.records import OrderToPlace
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, wait_until


@pytest.fixture
def hops(manager: IBKRConnectionManager, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every call the adapter sends to the loop thread (the manager's own entry point, counted)."""
    calls: list[Any] = []
    run_sync = manager.run_sync

    def counted(operation: Any, **options: Any) -> Any:
        calls.append(operation)
        return run_sync(operation, **options)

    monkeypatch.setattr(manager, "run_sync", counted)
    yield calls


def _published(adapter: IBKRBrokerAdapter) -> Any:
    return wait_until(lambda: adapter.board.balance(ACCOUNT), what="the account's balance to be published")


def test_once_published_a_balance_read_makes_no_trip_and_sends_nothing(
    sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter, hops: list[Any]
) -> None:
    first = adapter.get_account_balance(ACCOUNT)  # subscribes the summary on the loop thread
    assert len(hops) == 1
    assert _published(adapter) == first
    sim.clear_received()
    again = adapter.get_account_balance(ACCOUNT)
    assert again == first and again.cash == sim.account(ACCOUNT).cash
    assert len(hops) == 1 and sim.received == []


def test_a_change_at_the_gateway_is_published(sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter) -> None:
    before = adapter.get_account_balance(ACCOUNT)
    _published(adapter)
    order = OrderRequest.model_validate({"account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY",
                                         "quantity": Decimal(10), "order_type": "Market"})
    placed = adapter.place_order(ACCOUNT, OrderToPlace(request=order, broker_symbol_id=None), "ref-board")
    if placed.status.value != "EXECUTED":
        sim.fill(int(placed.brokerage_order_id or 0))
    adapter.refresh_after_trade(ACCOUNT)
    cash = sim.account(ACCOUNT).cash
    assert cash < (before.cash or 0)
    after = wait_until(lambda: adapter.board.balance(ACCOUNT) if adapter.board.balance(ACCOUNT).cash == cash
                       else None, what="the refreshed cash to be published")
    assert adapter.get_account_balance(ACCOUNT) == after


def test_a_lost_connection_clears_the_board_and_reads_meet_the_connection_errors(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, adapter: IBKRBrokerAdapter, hops: list[Any]
) -> None:
    adapter.get_account_balance(ACCOUNT)
    _published(adapter)
    sim.refuse_connections = True
    sim.stop()
    wait_until(lambda: not manager.health().connected, what="the drop to be noticed")
    assert adapter.board.balance(ACCOUNT) is None
    with pytest.raises(TradeError) as caught:
        adapter.get_account_balance(ACCOUNT)
    assert caught.value.code is ErrorCode.BROKER_UNAVAILABLE and len(hops) == 2  # asked the loop thread


def test_a_degraded_gateway_is_not_answered_from_the_board(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, adapter: IBKRBrokerAdapter
) -> None:
    """IB Gateway without IB's servers (1100): the loop thread refuses reads, so the execute is refused before
    its intent, as it was before the board; a stale balance must not let it through to a failed placement."""
    adapter.get_account_balance(ACCOUNT)
    _published(adapter)
    sim.send_connectivity_notice(1100)
    wait_until(lambda: manager.health().state is ConnectionState.DEGRADED, what="degraded")
    with pytest.raises(TradeError) as caught:
        adapter.get_account_balance(ACCOUNT)
    assert caught.value.code is ErrorCode.BROKER_UNAVAILABLE and "1100" in caught.value.message
    sim.send_connectivity_notice(1102)
    wait_until(lambda: manager.health().ready, what="restored")
    assert adapter.get_account_balance(ACCOUNT).account_id == ACCOUNT


def test_an_account_this_process_may_not_use_is_never_answered_from_the_board(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, adapter: IBKRBrokerAdapter
) -> None:
    adapter.get_account_balance(ACCOUNT)
    _published(adapter)
    restricted = IBKRBrokerAdapter(manager, allowed_accounts=("DU7777777",))
    try:
        restricted.board = adapter.board  # even with the account published
        with pytest.raises(TradeError) as caught:
            restricted.get_account_balance(ACCOUNT)
        assert caught.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    finally:
        restricted.close()


def test_positions_are_published_and_read_without_a_trip(
    sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter, hops: list[Any]
) -> None:
    assert adapter.get_positions(ACCOUNT) is not None  # attaches the board on the loop thread
    order = OrderRequest.model_validate({"account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY",
                                         "quantity": Decimal(7), "order_type": "Market"})
    placed = adapter.place_order(ACCOUNT, OrderToPlace(request=order, broker_symbol_id=None), "ref-held")
    if placed.status.value != "EXECUTED":
        sim.fill(int(placed.brokerage_order_id or 0))

    def aapl_held() -> Decimal:
        held = adapter.board.positions(ACCOUNT) or []
        return sum((p.quantity for p in held if p.ticker == "AAPL"), Decimal(0))

    wait_until(lambda: aapl_held() >= 7, what="the position to be published")
    trips = len(hops)
    read = adapter.get_positions(ACCOUNT)
    assert len(hops) == trips  # answered from the board
    from_loop = adapter.manager.run_sync(partial(adapter.ops.positions, account_id=ACCOUNT), cost=0)
    assert read == from_loop  # the same positions the loop thread answers with


def test_a_board_that_cannot_be_built_is_emptied_not_left_stale(
    sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter, hops: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: if publishing breaks, reads go to the loop thread instead of an old snapshot."""
    import brokers.ibkr.account_board as board_module

    adapter.get_account_balance(ACCOUNT)
    _published(adapter)

    def broken(*_args: object) -> object:
        raise ValueError("a summary value this code did not expect")

    monkeypatch.setattr(board_module, "balance_from", broken)  # the board's builder only, not the loop thread's
    adapter.refresh_after_trade(ACCOUNT)  # new summary values arrive: the board tries to publish them
    wait_until(lambda: adapter.board.balance(ACCOUNT) is None, what="the board to be emptied")
    trips = len(hops)
    assert adapter.get_account_balance(ACCOUNT).cash == sim.account(ACCOUNT).cash
    assert len(hops) == trips + 1  # answered by the loop thread


def test_a_closed_adapter_publishes_nothing_more(sim: IBGatewaySimulator, manager: IBKRConnectionManager) -> None:
    other = IBKRBrokerAdapter(manager)
    other.get_account_balance(ACCOUNT)
    wait_until(lambda: other.board.balance(ACCOUNT), what="published")
    other.close()
    assert other.board.balance(ACCOUNT) is None
    other.refresh_after_trade(ACCOUNT)  # new summary values arrive on the shared connection
    wait_until(lambda: manager.background.idle and manager.background.runs >= 1, what="the refresh")
    assert other.board.balance(ACCOUNT) is None
