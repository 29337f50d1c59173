"""Issue 16 order types through the real ib_async to the simulated gateway: trailing stops (by amount
or percent, with a limit offset), market-on-close/-open, and outside regular trading hours.

AAPL starts at 189.99 / 190.01, last 190.00; prices move with `sim.set_price`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.models import OrderRequest, OrderStatus
from brokers.records import OrderToPlace
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, event_types, order_row, placed_orders, wait_until

D = Decimal
ORDER_TYPE, AUX, TIF, OCA_GROUP, OUTSIDE_RTH = 18, 20, 21, 22, 33  # placeOrder field indexes


def _place(sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter, ref: str, **fields: Any) -> tuple[str, list[str]]:
    values: dict[str, Any] = {"account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": D(10)}
    request = OrderRequest.model_validate({**values, **fields})
    placed = adapter.place_order(ACCOUNT, OrderToPlace(request=request, broker_symbol_id=None), ref)
    assert placed.status is OrderStatus.PENDING  # waiting for its trigger or auction (PreSubmitted)
    return placed.brokerage_order_id or "", placed_orders(sim)[-1]


def _quote(sim: IBGatewaySimulator, last: str) -> None:
    price = D(last)
    sim.set_price("AAPL", last=price, bid=price - D("0.01"), ask=price + D("0.01"))


def _settled(adapter: IBKRBrokerAdapter, perm_id: str, status: OrderStatus) -> Any:
    return wait_until(lambda: (o := adapter.get_order(ACCOUNT, perm_id)).status is status and o,
                      what=f"order {perm_id} to be {status.value}")


def test_trailing_stop_by_amount_follows_the_price_then_fills(sim: IBGatewaySimulator,
                                                               adapter: IBKRBrokerAdapter) -> None:
    perm_id, wire = _place(sim, adapter, "ref-trail", order_type="TrailingStop", trailing_amount="2.00")
    assert wire[ORDER_TYPE] == "TRAIL" and D(wire[AUX]) == 2
    _quote(sim, "185.00")  # a buy stop trails down with the price: 192.00 -> 187.00
    _quote(sim, "186.50")  # still below the stop: nothing happens
    assert adapter.get_order(ACCOUNT, perm_id).status is OrderStatus.PENDING
    _quote(sim, "187.00")  # reaches the trailed stop: a market order now
    filled = _settled(adapter, perm_id, OrderStatus.EXECUTED)
    assert filled.average_fill_price == D("187.01") and filled.order_type == "TrailingStop"


def test_trailing_stop_limit_by_percent(sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter) -> None:
    perm_id, wire = _place(sim, adapter, "ref-trail-limit", side="SELL", order_type="TrailingStopLimit",
                           trailing_percent="1", limit_offset="0.50", trail_stop_price="189.00")
    assert wire[ORDER_TYPE] == "TRAIL LIMIT"
    _quote(sim, "200.00")  # a sell stop trails up: 1 % below 200 = 198.00
    _quote(sim, "198.00")  # triggered: a limit order at 198.00 - 0.50, marketable at 197.99
    filled = _settled(adapter, perm_id, OrderStatus.EXECUTED)
    assert filled.side is not None and filled.side.value == "SELL" and filled.average_fill_price == D("197.99")
    assert filled.order_type == "TrailingStopLimit"


def test_market_on_close_and_open_wait_for_their_auction(sim: IBGatewaySimulator,
                                                         adapter: IBKRBrokerAdapter) -> None:
    close_id, close_wire = _place(sim, adapter, "ref-moc", order_type="MarketOnClose")
    open_id, open_wire = _place(sim, adapter, "ref-opg", order_type="MarketOnOpen", outside_rth=True)
    assert (close_wire[ORDER_TYPE], close_wire[TIF]) == ("MOC", "DAY")
    assert (open_wire[ORDER_TYPE], open_wire[TIF], open_wire[OUTSIDE_RTH]) == ("MKT", "OPG", "1")
    _quote(sim, "191.00")  # no auction yet: neither fills
    assert {adapter.get_order(ACCOUNT, i).status for i in (close_id, open_id)} == {OrderStatus.PENDING}
    assert sim.run_auction("close") == 1
    assert _settled(adapter, close_id, OrderStatus.EXECUTED).average_fill_price == D("191.00")
    assert adapter.get_order(ACCOUNT, open_id).status is OrderStatus.PENDING
    assert sim.run_auction("open") == 1
    opened = _settled(adapter, open_id, OrderStatus.EXECUTED)
    assert opened.order_type == "MarketOnOpen" and opened.raw["outside_rth"] is True


def test_trailing_stop_and_market_on_close_through_the_service(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", "10", order_type="TrailingStop",
                                    trailing_amount="2.00", outside_rth=True)
    assert preview.order_options == {"trailing_amount": "2.00", "outside_rth": True}
    assert "trailing amount 2.00" in preview.summary and "outside regular hours" in preview.summary
    trailing = service.execute_trade(preview.preview_id)  # the execute rebuilds the order from the preview
    wire = placed_orders(sim)[-1]
    assert (wire[ORDER_TYPE], D(wire[AUX]), wire[OUTSIDE_RTH]) == ("TRAIL", 2, "1")

    moc = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", "5",
                                                      order_type="market_on_close").preview_id)
    assert trailing.status == moc.status == "PENDING"
    _quote(sim, "192.00")  # the buy stop (192.00) is reached: the trailing stop fills
    sim.run_auction("close")
    for view, quantity in ((trailing, 10), (moc, 5)):
        row = wait_until(lambda v=view: (r := order_row(session_factory, v.order_id)).status == "EXECUTED" and r,
                         what=f"{view.order_id} filled")
        assert row.filled_quantity == quantity


def test_an_advanced_order_type_the_broker_cannot_take_is_refused_before_anything_is_stored(
    service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    with pytest.raises(TradeError) as caught:
        service.preview_trade(ACCOUNT, "AAPL", "BUY", "10", order_type="TrailingStop")  # no trailing distance
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    with pytest.raises(TradeError):
        service.preview_trade(ACCOUNT, "AAPL", "BUY", "10", order_type="Limit", limit_price="185",
                              trailing_percent="1")
    assert event_types(session_factory) == ["PREVIEW_REFUSED", "PREVIEW_REFUSED"]


def test_a_fill_in_an_oca_group_cancels_the_rest_of_the_group(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    sim.auto_fill = False
    views = [
        service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", "10", order_type="Limit",
                                                    limit_price=price, oca_group="dip-buy").preview_id)
        for price in ("185.00", "180.00")
    ]
    wires = placed_orders(sim)[-2:]
    assert [w[OCA_GROUP] for w in wires] == ["dip-buy", "dip-buy"]
    booked = next(o for o in sim.orders if o.order_ref == views[0].client_order_ref)
    sim.fill(booked.order_id, price="185.00")
    first, second = (
        wait_until(lambda v=view, s=status: (r := order_row(session_factory, v.order_id)).status == s and r,
                   what=f"{view.order_id} {status}")
        for view, status in zip(views, ("EXECUTED", "CANCELED"), strict=True)
    )
    assert first.filled_quantity == 10 and second.filled_quantity == 0
