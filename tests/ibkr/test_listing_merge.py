"""get_orders at IBKR: orders the gateway reports that were not placed through the module are merged."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.connection import IBKRConnectionManager
from brokers.models import OrderRequest
from brokers.records import OrderToPlace
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT


def test_orders_placed_elsewhere_are_listed_as_brokerage(
    sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter, service: TradeExecutionService
) -> None:
    sim.auto_fill = False
    request = OrderRequest(account_id=ACCOUNT, ticker="MSFT", side="BUY", quantity=Decimal(2), order_type="Limit",
                           limit_price=Decimal("400"))
    outside = adapter.place_order(ACCOUNT, OrderToPlace(request=request, broker_symbol_id=None), "typed-in-tws")
    ours = service.execute_order(service.preview_order(ACCOUNT, "AAPL", "BUY", 1, "Limit", 180).preview_id)
    listed = service.get_orders(ACCOUNT, state="open")
    assert sorted((v.source, v.brokerage_order_id) for v in listed) == sorted(
        [("brokerage", outside.brokerage_order_id), ("local", ours.brokerage_order_id)])
    [foreign] = [v for v in listed if v.source == "brokerage"]
    assert foreign.id is None and foreign.preview_id is None and foreign.ticker == "MSFT"
    assert foreign.quantity == 2 and foreign.order_status == "ACCEPTED"
    assert service.get_orders(state="open")  # one tradeable account: account_id may be left out


def test_ibkr_accounts_scopes_every_read(sim: IBGatewaySimulator, manager: IBKRConnectionManager,
                                        service: TradeExecutionService) -> None:
    sim.auto_fill = False
    ours = service.execute_order(service.preview_order(ACCOUNT, "AAPL", "BUY", 1, "Limit", 180).preview_id)
    restricted = IBKRBrokerAdapter(manager, allowed_accounts=("DU7777777",))
    other = TradeExecutionService(service.settings, service.store.session_factory, [restricted])
    try:
        with pytest.raises(TradeError) as listing:
            other.get_orders(ACCOUNT)
        assert listing.value.code is ErrorCode.ACCOUNT_NOT_FOUND
        with pytest.raises(TradeError) as status:
            other.get_order_status(ours.order_id)
        assert status.value.code is ErrorCode.ORDER_NOT_FOUND
    finally:
        other.close()
