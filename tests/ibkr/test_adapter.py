"""The adapter alone against the simulated gateway: async twins, lazy first order, guards, lookups."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokers.errors import ErrorCode, OrderOutcomeUnknown, TradeError
from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.connection import IBKRConnectionManager
from brokers.ibkr.trading import SendGuard
from brokers.models import OrderRequest, OrderStatus
from brokers.records import OrderLookup, OrderToPlace
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, placed_orders, wait_until

D = Decimal


def _request(order_type: str = "Limit", **fields: object) -> OrderRequest:
    values: dict[str, object] = {"account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": D(5),
                                 "order_type": order_type}
    if order_type == "Limit":
        values["limit_price"] = D("185.00")
    values.update(fields)
    return OrderRequest(**values)


def test_first_call_may_be_an_order_lazy_connect(sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter) -> None:
    placed = adapter.place_order(ACCOUNT, OrderToPlace(request=_request(), broker_symbol_id=None), "ref-first")
    assert placed.status is OrderStatus.ACCEPTED and placed.client_order_ref == "ref-first"
    assert placed.raw["order_id"] and placed.raw["perm_id"] == int(placed.brokerage_order_id or 0)
    assert sim.orders[0].order_ref == "ref-first" and sim.connection_count == 1


def test_one_session_serves_reads_orders_and_lookups(sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter) -> None:
    assert [a.account_id for a in adapter.list_accounts()] == [ACCOUNT]
    assert adapter.get_quote(ACCOUNT, "MSFT").last == D("420.00")
    preview = adapter.preview_order(_request())
    assert preview.estimated_commission == D("1.00") and preview.margin_impact["init_margin_change"]
    placed = adapter.place_order(ACCOUNT, OrderToPlace(request=_request(), broker_symbol_id=None), "ref-one")
    found = adapter.get_order(ACCOUNT, placed.brokerage_order_id or "")
    assert found.client_order_ref == "ref-one"
    canceled = adapter.cancel_order(ACCOUNT, placed.brokerage_order_id or "")
    assert canceled.status is OrderStatus.CANCELED
    assert [o.status for o in adapter.get_orders(ACCOUNT)] == [OrderStatus.CANCELED]
    assert sim.connection_count == 1


def test_find_by_ref_covers_open_completed_and_unknown(sim: IBGatewaySimulator, manager: IBKRConnectionManager,
                                                      adapter: IBKRBrokerAdapter) -> None:
    sim.auto_fill = False
    working = adapter.place_order(ACCOUNT, OrderToPlace(request=_request(), broker_symbol_id=None), "ref-open")
    sim.fill(working.raw["order_id"])

    def lookup(ref: str) -> OrderLookup:
        return OrderLookup(account_id=ACCOUNT, client_order_ref=ref, request=_request(),
                           submitted_at=datetime.now(UTC))

    # A fresh connection knows nothing of this session: everything comes from the gateway.
    manager.shutdown()
    fresh = IBKRConnectionManager("127.0.0.1", sim.port, 18, request_timeout=5.0, max_requests_per_second=0)
    other = IBKRBrokerAdapter(fresh)
    try:
        found = other.find_order_by_ref(lookup("ref-open"))
        assert found is not None and found.status is OrderStatus.EXECUTED
        assert found.filled_quantity == 5 and found.average_fill_price == D("185.00")
        assert found.brokerage_order_id == working.brokerage_order_id
        assert other.find_order_by_ref(lookup("no-such-ref")) is None
        assert other.get_order(ACCOUNT, working.brokerage_order_id or "").status is OrderStatus.EXECUTED
        with pytest.raises(TradeError) as caught:
            other.get_order(ACCOUNT, "999")
        assert caught.value.code is ErrorCode.ORDER_NOT_FOUND
    finally:
        other.close()
        fresh.shutdown()


def test_cancel_of_another_clients_order_is_refused_without_faking_a_cancel(
    sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter
) -> None:
    sim.auto_fill = False
    working = adapter.place_order(ACCOUNT, OrderToPlace(request=_request(), broker_symbol_id=None), "ref-keep")
    fresh = IBKRConnectionManager("127.0.0.1", sim.port, 19, request_timeout=5.0, max_requests_per_second=0)
    other = IBKRBrokerAdapter(fresh)
    try:
        with pytest.raises(TradeError) as caught:
            other.cancel_order(ACCOUNT, working.brokerage_order_id or "")
        assert caught.value.code is ErrorCode.ORDER_NOT_CANCELABLE and "client id 17" in caught.value.message
        assert sim.orders[0].status == "Submitted"
    finally:
        other.close()
        fresh.shutdown()


def test_shutdown_during_a_placement_is_unknown_not_failed(sim: IBGatewaySimulator,
                                                          manager: IBKRConnectionManager,
                                                          adapter: IBKRBrokerAdapter) -> None:
    adapter.list_accounts()
    sim.delay_acks_ms = 5000
    outcome: list[BaseException] = []

    def place() -> None:
        try:
            adapter.place_order(ACCOUNT, OrderToPlace(request=_request(), broker_symbol_id=None), "ref-shutdown")
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=place)
    worker.start()
    wait_until(lambda: placed_orders(sim), what="the order to reach the gateway")
    manager.shutdown()
    worker.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], OrderOutcomeUnknown)


def test_send_guard_decides_once() -> None:
    abandoned = SendGuard()
    assert abandoned.abandon() and not abandoned.begin_send()  # gave up first: never sent
    sent = SendGuard()
    assert sent.begin_send() and not sent.abandon()  # sent first: the caller must treat it as unknown


def test_positions_futures_and_options(sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter) -> None:
    future = OrderRequest(account_id=ACCOUNT, ticker="/MES", side="BUY", quantity=D(2))
    preview = adapter.preview_order(future)
    assert preview.multiplier == D(5) and preview.raw["contract"]["sec_type"] == "FUT"
    placed = adapter.place_order(ACCOUNT, OrderToPlace(request=future, broker_symbol_id=preview.broker_symbol_id),
                                 "ref-mes")
    wait_until(lambda: adapter.get_order(ACCOUNT, placed.brokerage_order_id or "").status is OrderStatus.EXECUTED,
               what="the futures fill")
    positions = wait_until(lambda: adapter.get_positions(ACCOUNT), what="the position")
    assert positions[0].ticker.startswith("MES") and positions[0].quantity == 2
    assert positions[0].broker_symbol_id == preview.broker_symbol_id


def test_a_preview_for_another_contract_cannot_be_placed(adapter: IBKRBrokerAdapter) -> None:
    msft = adapter.search_symbol(ACCOUNT, "MSFT")[0].broker_symbol_id
    with pytest.raises(TradeError) as caught:
        adapter.place_order(ACCOUNT, OrderToPlace(request=_request(), broker_symbol_id=msft), "ref-mixed")
    assert caught.value.code is ErrorCode.VALIDATION_ERROR


def test_unmanaged_account(adapter: IBKRBrokerAdapter) -> None:
    with pytest.raises(TradeError) as caught:
        adapter.get_account_balance("DU9999999")
    assert caught.value.code is ErrorCode.ACCOUNT_NOT_FOUND
