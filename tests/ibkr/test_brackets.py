"""Brackets through the service, the real ib_async and the simulated gateway (issue 16).

AAPL starts at 189.99 / 190.01, last 190.00. The three orders on the wire, one row and one orderRef per
leg, the parent's fill activating the children, OCA cancellation, cancelling the set, refusals.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradeEvent, TradeOrder
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import placed_orders, wait_until

D = Decimal
ACCOUNT = "DU1234567"
OCA_GROUP, REF, TRANSMIT, PARENT = 22, 26, 27, 28  # placeOrder field indexes


def _quote(sim: IBGatewaySimulator, last: str) -> None:
    price = D(last)
    sim.set_price("AAPL", last=price, bid=price - D("0.01"), ask=price + D("0.01"))


def _rows(session_factory: sessionmaker[Session], entry_id: str) -> dict[str, TradeOrder]:
    with session_factory() as session:
        entry = session.get(TradeOrder, uuid.UUID(entry_id))
        children = session.execute(select(TradeOrder).where(TradeOrder.parent_order_id == uuid.UUID(entry_id)))
        rows = [entry, *children.scalars()]
        return {str(r.leg_role): r for r in rows if r is not None}


def _statuses(service: TradeExecutionService, ids: list[str]) -> list[str]:
    return [o.order.status if o.order else "?" for o in service.get_orders_status(ids).orders]


def test_bracket_on_the_wire_one_row_per_leg_and_the_parent_fill_activates_the_children(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", 10, "Limit", "190.50",
                                    take_profit_price="195", stop_loss_price="185")
    assert [leg["role"] for leg in preview.legs] == ["entry", "take_profit", "stop_loss"]
    assert [(leg["side"], leg["order_type"]) for leg in preview.legs] == [("BUY", "Limit"), ("SELL", "Limit"),
                                                                          ("SELL", "Stop")]
    assert [leg["estimated_notional"] for leg in preview.legs] == ["1905", "1950", "1850"]
    assert "take-profit SELL 10 Limit 195" in preview.summary and "stop-loss SELL 10 Stop 185" in preview.summary

    result = service.execute_trade(preview.preview_id)
    assert result.order_roles == ["entry", "take_profit", "stop_loss"] and len(set(result.order_ids or [])) == 3
    wire = placed_orders(sim)[-3:]
    parent_id = wire[0][1]
    assert [w[TRANSMIT] for w in wire] == ["0", "0", "1"]  # nothing works until the last leg arrives
    assert [w[PARENT] for w in wire] == ["0", parent_id, parent_id]
    assert wire[0][OCA_GROUP] == "" and wire[1][OCA_GROUP] == wire[2][OCA_GROUP] == f"{wire[0][REF]}-oca"
    assert [w[REF] for w in wire] == [result.client_order_ref, f"{result.client_order_ref}-tp",
                                      f"{result.client_order_ref}-sl"]
    rows = _rows(session_factory, result.order_id or "")
    assert rows["entry"].preview_id == uuid.UUID(preview.preview_id)
    assert rows["take_profit"].preview_id is None and rows["take_profit"].parent_order_id == rows["entry"].id
    ids = result.order_ids or []
    # marketable: the entry fills at once; the children then work (the stop waits for its trigger)
    wait_until(lambda: _statuses(service, ids) == ["EXECUTED", "ACCEPTED", "PENDING"], what="children activated")

    _quote(sim, "195.20")  # the take-profit fills; its OCA partner, the stop-loss, is cancelled
    wait_until(lambda: _statuses(service, ids) == ["EXECUTED", "EXECUTED", "CANCELED"], what="OCA cancel")
    legs = service.get_orders_status(ids).orders
    assert legs[1].order is not None and legs[1].order.side == "SELL" and legs[1].order.limit_price == D(195)
    assert legs[2].order is not None and legs[2].order.order_type == "Stop" and legs[2].order.stop_price == D(185)


def test_cancelling_the_entry_cancels_the_set(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", 5, "Limit", "180", take_profit_price="200",
                                    stop_loss_price="170")
    result = service.execute_trade(preview.preview_id)
    ids = result.order_ids or []
    assert _statuses(service, ids) == ["ACCEPTED", "PENDING", "PENDING"]  # children held until the entry fills
    _quote(sim, "201")  # a held take-profit never fills before its parent
    assert _statuses(service, ids)[1] == "PENDING"
    cancelled = service.cancel_order(uuid.UUID(ids[0]))
    assert cancelled.status == "CANCELED" and cancelled.order_ids == ids
    wait_until(lambda: _statuses(service, ids) == ["CANCELED", "CANCELED", "CANCELED"], what="the set cancelled")
    with session_factory() as session:
        cancels = session.execute(select(TradeEvent.order_id).where(TradeEvent.event_type == "CANCEL_REQUESTED"))
        assert {str(i) for i in cancels.scalars()} == {ids[0]}


@pytest.mark.parametrize(("side", "entry", "tp", "sl", "field"), [
    ("BUY", "190", "189", None, "take_profit_price"),
    ("BUY", "190", None, "191", "stop_loss_price"),
    ("SELL", "190", "191", None, "take_profit_price"),
    ("SELL", "190", "195", "185", "stop_loss_price"),
])
def test_price_order_is_checked_at_the_edge(
    service: TradeExecutionService, session_factory: sessionmaker[Session], side: str, entry: str,
    tp: str | None, sl: str | None, field: str,
) -> None:
    with pytest.raises(TradeError) as refused:
        service.preview_trade(ACCOUNT, "AAPL", side, 1, "Limit", entry, take_profit_price=tp, stop_loss_price=sl)
    assert refused.value.code is ErrorCode.VALIDATION_ERROR and field in refused.value.message
    with session_factory() as session:
        assert session.execute(select(TradeOrder)).first() is None


def test_a_market_entry_is_checked_against_the_quote_and_an_auction_entry_is_refused(
    service: TradeExecutionService,
) -> None:
    with pytest.raises(TradeError) as below:
        service.preview_trade(ACCOUNT, "AAPL", "BUY", 1, take_profit_price="189", stop_loss_price="180")
    assert below.value.code is ErrorCode.VALIDATION_ERROR and "current price 190" in below.value.message
    with pytest.raises(TradeError) as auction:
        service.preview_trade(ACCOUNT, "AAPL", "BUY", 1, "MarketOnClose", take_profit_price="200")
    assert auction.value.code is ErrorCode.VALIDATION_ERROR and "bracket entry" in auction.value.message
    ok = service.preview_trade(ACCOUNT, "AAPL", "BUY", 1, take_profit_price="200")
    assert [leg["role"] for leg in ok.legs] == ["entry", "take_profit"]


def test_a_sell_bracket_is_mirrored_on_the_wire(sim: IBGatewaySimulator, service: TradeExecutionService) -> None:
    service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", 5).preview_id)  # something to sell
    preview = service.preview_trade(ACCOUNT, "AAPL", "SELL", 5, "Limit", "191", take_profit_price="185",
                                    stop_loss_price="195")
    assert [(leg["side"], leg["order_type"]) for leg in preview.legs] == [("SELL", "Limit"), ("BUY", "Limit"),
                                                                          ("BUY", "Stop")]
    result = service.execute_trade(preview.preview_id)
    wire = placed_orders(sim)[-3:]
    assert [w[16] for w in wire] == ["SELL", "BUY", "BUY"] and [w[TRANSMIT] for w in wire] == ["0", "0", "1"]
    assert _statuses(service, result.order_ids or []) == ["ACCEPTED", "PENDING", "PENDING"]


def test_orders_off_records_every_leg_simulated_and_sends_nothing(
    sim: IBGatewaySimulator, manager: object, adapter: object, session_factory: sessionmaker[Session],
) -> None:
    from tests.ibkr.conftest import make_settings

    service = TradeExecutionService(make_settings(sim.port, ORDERS_ENABLED=False), session_factory, [adapter])
    try:
        preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", 2, "Limit", "180", take_profit_price="200")
        before = len(placed_orders(sim))
        result = service.execute_trade(preview.preview_id)
        assert result.status == "SIMULATED" and result.order_roles == ["entry", "take_profit"]
        assert [leg["status"] for leg in result.legs or []] == ["SIMULATED", "SIMULATED"]
        assert len(placed_orders(sim)) == before
    finally:
        service.close()


def test_a_brackets_working_exit_counts_as_an_open_sell(sim: IBGatewaySimulator,
                                                        service: TradeExecutionService) -> None:
    bracket = service.preview_trade(ACCOUNT, "AAPL", "BUY", 5, take_profit_price="200", stop_loss_price="180")
    ids = service.execute_trade(bracket.preview_id).order_ids or []
    wait_until(lambda: _statuses(service, ids) == ["EXECUTED", "ACCEPTED", "PENDING"], what="exits working")
    again = service.preview_trade(ACCOUNT, "AAPL", "SELL", 5)  # the 5 shares held are already spoken for
    with pytest.raises(TradeError) as refused:
        service.execute_trade(again.preview_id)
    assert refused.value.code is ErrorCode.INSUFFICIENT_POSITION
    assert D(refused.value.details["open_sell_quantity"]) == 10  # its own 5 and the exit's 5
