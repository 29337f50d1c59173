"""get_orders at SnapTrade: orders the broker reports that were not placed through the module are merged."""

from __future__ import annotations

from decimal import Decimal

from brokers.models import OrderRequest
from brokers.records import OrderToPlace
from brokers.snaptrade import SnapTradeBrokerAdapter
from services.trade_execution import TradeExecutionService
from tests.snaptrade.conftest import World


def test_orders_placed_elsewhere_are_listed_as_brokerage(
    world: World, adapter: SnapTradeBrokerAdapter, service: TradeExecutionService
) -> None:
    world.sim.fill_policy = "accept"
    request = OrderRequest(account_id=world.paper, ticker="MSFT", side="BUY", quantity=Decimal(1))
    quoted = adapter.preview_order(request)
    outside = adapter.place_order(world.paper, OrderToPlace(
        request=request, broker_symbol_id=quoted.broker_symbol_id, broker_trade_id=quoted.broker_trade_id), "app")
    ours = service.execute_order(service.preview_order(world.paper, "AAPL", "BUY", 1).preview_id)
    listed = service.get_orders(world.paper, state="open")
    assert sorted((v.source, v.brokerage_order_id) for v in listed) == sorted(
        [("brokerage", outside.brokerage_order_id), ("local", ours.brokerage_order_id)])
    [foreign] = [v for v in listed if v.source == "brokerage"]
    assert foreign.id is None and foreign.preview_id is None and foreign.ticker == "MSFT"
    canceled = service.cancel_order(world.paper, outside.brokerage_order_id)  # the contract's cancel
    assert canceled.source == "brokerage" and canceled.order_status == "CANCELED"
