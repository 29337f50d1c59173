"""IBKRConnectionManager against the simulated gateway: lazy connect, health, reconnects, refusals."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from ib_async import IB

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.connection import IBKRConnectionManager
from brokers.ibkr.lifecycle import CallKind, ConnectionState
from brokers.ibkr.registry import shared_manager
from brokers.models import OrderRequest
from brokers.records import OrderToPlace
from settings import TradingMode
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, CLIENT_ID, make_manager, make_settings, placed_orders, wait_until


def _order(ticker: str = "AAPL") -> OrderToPlace:
    request = OrderRequest(account_id=ACCOUNT, ticker=ticker, side="BUY", quantity=Decimal(1),
                           order_type="Limit", limit_price=Decimal("100"))
    return OrderToPlace(request=request, broker_symbol_id=None)


def test_connects_lazily_and_reports_health(sim: IBGatewaySimulator, manager: IBKRConnectionManager,
                                            adapter: IBKRBrokerAdapter) -> None:
    assert manager.health().state is ConnectionState.IDLE
    assert sim.connection_count == 0
    assert [a.account_id for a in adapter.list_accounts()] == [ACCOUNT]
    health = manager.health()
    assert health.ready and health.connected
    assert health.server_version == 178 and health.accounts == (ACCOUNT,) and health.client_id == CLIENT_ID
    assert health.last_error is None and health.connections == 1
    assert health.as_dict()["gateway"] == f"127.0.0.1:{sim.port}"


def test_health_can_connect_first(sim: IBGatewaySimulator, manager: IBKRConnectionManager) -> None:
    report = manager.health(connect=True)
    assert report.ready and report.as_dict()["state"] == "connected"


def test_shared_manager_is_one_per_endpoint(sim: IBGatewaySimulator) -> None:
    settings = make_settings(sim.port)
    first = shared_manager(settings)
    try:
        assert shared_manager(settings) is first
        other = shared_manager(make_settings(sim.port, IBKR_CLIENT_ID=CLIENT_ID + 1))
        assert other is not first
        other.shutdown()
        adapter = IBKRBrokerAdapter.from_settings(settings)
        assert adapter.manager is first
        adapter.close()
    finally:
        first.shutdown()
    assert shared_manager(settings) is not first  # a shut-down one is replaced
    shared_manager(settings).shutdown()


def test_client_id_in_use_is_reported_clearly(sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter) -> None:
    adapter.list_accounts()  # the fixture's manager holds client id 17
    second = make_manager(sim.port)
    try:
        with pytest.raises(TradeError) as caught:
            second.run_sync(lambda ib: ib.reqCurrentTimeAsync())
        error = caught.value
        assert "handshake" not in error.message  # the 326 ended the attempt, not the connect timeout
        assert error.code is ErrorCode.BROKER_UNAVAILABLE
        assert "client id 17" in error.message and "326" in error.message and "IBKR_CLIENT_ID" in error.message
        health = second.health()
        assert not health.connected and health.last_error is not None and health.last_error.code == 326
    finally:
        second.shutdown()


def test_gateway_restart_reconnects_by_itself(sim: IBGatewaySimulator, manager: IBKRConnectionManager,
                                              adapter: IBKRBrokerAdapter) -> None:
    reconnected = threading.Event()
    adapter.set_reconnect_handler(reconnected.set)
    adapter.list_accounts()
    sim.stop()
    wait_until(lambda: not manager.health().connected, what="the manager to notice the drop")
    sim.start()
    wait_until(lambda: manager.health().ready, what="the manager to reconnect on its own")
    assert reconnected.wait(5)
    assert adapter.get_quote(ACCOUNT, "AAPL").last == Decimal("190.00")
    health = manager.health()
    assert health.connections == 2 and sim.connection_count >= 2


def test_next_call_after_restart_succeeds_without_waiting_for_backoff(sim: IBGatewaySimulator) -> None:
    from brokers.ibkr.lifecycle import Backoff

    slow = make_manager(sim.port, backoff=Backoff(initial=30.0, maximum=30.0, jitter=0.0))
    adapter = IBKRBrokerAdapter(slow)
    try:
        adapter.list_accounts()
        sim.stop()
        wait_until(lambda: slow.health().state is ConnectionState.BACKOFF, what="backoff")
        sim.start()
        started = time.monotonic()
        assert adapter.list_accounts()  # a waiting caller nudges the state machine: no 30 s wait
        assert time.monotonic() - started < 3.0
    finally:
        adapter.close()
        slow.shutdown()


def test_orders_fail_at_once_while_disconnected(sim: IBGatewaySimulator, manager: IBKRConnectionManager,
                                                adapter: IBKRBrokerAdapter) -> None:
    adapter.list_accounts()
    sim.refuse_connections = True
    sim.stop()
    wait_until(lambda: not manager.health().connected, what="disconnect")
    started = time.monotonic()
    with pytest.raises(TradeError) as caught:
        adapter.place_order(ACCOUNT, _order(), "ref-while-down")
    assert time.monotonic() - started < 0.5
    assert caught.value.code is ErrorCode.BROKER_UNAVAILABLE and "nothing was sent" in caught.value.message
    with pytest.raises(TradeError) as read:
        adapter.get_quote(ACCOUNT, "AAPL")  # reads try to reconnect once, then fail: refused
    assert read.value.code is ErrorCode.BROKER_UNAVAILABLE and "refused" in read.value.message


def test_connectivity_loss_1100_refuses_orders_until_1102(sim: IBGatewaySimulator, manager: IBKRConnectionManager,
                                                          adapter: IBKRBrokerAdapter) -> None:
    restored = threading.Event()
    adapter.set_reconnect_handler(restored.set)
    adapter.list_accounts()
    sim.send_connectivity_notice(1100)
    wait_until(lambda: manager.health().state is ConnectionState.DEGRADED, what="degraded")
    with pytest.raises(TradeError) as caught:
        adapter.place_order(ACCOUNT, _order(), "ref-1100")
    assert caught.value.code is ErrorCode.BROKER_UNAVAILABLE and "1100" in caught.value.message
    assert placed_orders(sim) == []
    sim.send_connectivity_notice(1102)
    wait_until(lambda: manager.health().ready, what="restored")
    assert restored.wait(5)  # reconciliation is triggered after a restore as after a reconnect
    assert sim.connection_count == 1


def test_1100_without_restore_makes_the_manager_reconnect(sim: IBGatewaySimulator) -> None:
    quick = make_manager(sim.port, restore_grace=0.2)
    try:
        quick.run_sync(lambda ib: ib.reqCurrentTimeAsync())
        sim.send_connectivity_notice(1100)
        wait_until(lambda: sim.connection_count >= 2 and quick.health().ready, what="reconnect after grace")
    finally:
        quick.shutdown()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung gateway)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_no_call_hangs_past_its_timeout(silent_port: int) -> None:
    hung = make_manager(silent_port, request_timeout=0.5, connect_timeout=5.0)
    try:
        for kind in (CallKind.READ, CallKind.ORDER):
            with pytest.raises(TradeError) as caught:
                hung.run_sync(lambda ib: ib.reqCurrentTimeAsync(), kind=kind)
            assert caught.value.code is ErrorCode.BROKER_UNAVAILABLE
            assert "within 0.5s" in caught.value.message  # the call's own timeout, not the 5 s connect one
    finally:
        hung.shutdown()


def test_paper_mode_never_places_on_a_live_account() -> None:
    live_sim = IBGatewaySimulator(port=0, accounts=("U7654321", ACCOUNT))
    live_sim.start()
    manager = make_manager(live_sim.port)
    adapter = IBKRBrokerAdapter(manager, trading_mode=TradingMode.PAPER, allowed_accounts=("U7654321", ACCOUNT))
    try:
        assert {a.account_id: a.is_paper for a in adapter.list_accounts()} == {"U7654321": False, ACCOUNT: True}
        order = _order().model_copy(update={"request": _order().request.model_copy(update={"account_id": "U7654321"})})
        with pytest.raises(TradeError) as caught:
            adapter.place_order("U7654321", order, "ref-live")
        assert caught.value.code is ErrorCode.TRADING_DISABLED
        assert placed_orders(live_sim) == [] and live_sim.placed_order_count == 0
    finally:
        adapter.close()
        manager.shutdown()
        live_sim.close()


def test_account_allow_list(sim: IBGatewaySimulator, manager: IBKRConnectionManager) -> None:
    restricted = IBKRBrokerAdapter(manager, allowed_accounts=("DU7777777",))
    try:
        assert not restricted.owns_account(ACCOUNT) and restricted.owns_account("DU7777777")
        assert restricted.list_accounts() == []
        assert not restricted.owns_account("abc-uuid") and not restricted.owns_account("X123")
    finally:
        restricted.close()


def test_shutdown_leaves_no_threads(sim: IBGatewaySimulator) -> None:
    before = {t.ident for t in threading.enumerate()}
    managed = make_manager(sim.port)
    managed.run_sync(lambda ib: ib.reqCurrentTimeAsync())
    managed.shutdown()
    managed.shutdown()  # idempotent
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []
    with pytest.raises(TradeError):
        managed.run_sync(lambda ib: ib.reqCurrentTimeAsync())
    wait_until(lambda: sim.connected_client_ids == [], what="the gateway to see the socket closed")


def test_a_session_that_ends_before_a_read_runs_is_a_lost_connection_not_an_unknown_account(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, adapter: IBKRBrokerAdapter
) -> None:
    """The drop clears ib_async's managed accounts; a read that reaches check_account then must be retried on
    the next session (as a read meeting a dying socket is), never answered ACCOUNT_NOT_FOUND."""
    adapter.list_accounts()
    runs: list[bool] = []

    async def read(ib: IB) -> list[str]:
        runs.append(ib.isConnected())
        if len(runs) == 1:
            ib.disconnect()  # the session ends while this call waited its turn (ib_async resets its state)
        adapter.ops.check_account(ib, ACCOUNT)
        return ib.managedAccounts()

    assert ACCOUNT in manager.run_sync(read)
    assert runs == [True, True] and manager.health().connections == 2  # retried once, on the next session


def test_a_placement_whose_session_ended_first_reports_nothing_sent(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, adapter: IBKRBrokerAdapter
) -> None:
    """The same race for a placement: not ACCOUNT_NOT_FOUND (a refusal), but a lost connection with nothing sent."""
    from brokers.ibkr.lifecycle import CallKind
    from brokers.ibkr.trading import SendGuard

    adapter.list_accounts()
    guard = SendGuard()
    place, lost = adapter._placement(ACCOUNT, _order(), "ref-session-ended", guard)

    async def after_the_drop(ib: IB) -> object:
        ib.disconnect()  # the session ends while the placement waited its turn
        return await place(ib)

    with pytest.raises(TradeError) as caught:
        manager.run_sync(after_the_drop, kind=CallKind.ORDER, on_lost=lost)
    assert caught.value.code is ErrorCode.BROKER_UNAVAILABLE and "not sent" in caught.value.message
    assert placed_orders(sim) == []
