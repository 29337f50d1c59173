"""TradeExecutionService over the SnapTrade adapter, the unmodified SDK and the simulator."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradePreview
from services.trade_execution import TradeExecutionService
from tests.snaptrade.conftest import ServiceFactory, World, order_row

ORDER_TYPES: list[dict[str, Any]] = [
    {"order_type": "Limit", "limit_price": "180"},  # below the market: rests
    {"order_type": "Stop", "stop_price": "200"},  # BUY stop above the market: rests
    {"order_type": "StopLimit", "stop_price": "200", "limit_price": "201"},
]


def preview_row(factory: sessionmaker[Session], preview_id: str) -> TradePreview:
    with factory() as session:
        row = session.execute(select(TradePreview).where(TradePreview.id == uuid.UUID(preview_id))).scalar_one()
        session.expunge(row)
        return row


def test_market_order_preview_execute_status(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    world.sim.commission = Decimal("1.25")
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 5)
    assert preview.estimated_price == Decimal("190") and preview.estimated_commission == Decimal("1.25")
    assert preview.estimated_total == Decimal("951.25")
    assert (preview.expires_at - preview.created_at).total_seconds() <= 300
    stored = preview_row(session_factory, preview.preview_id)
    trade_id = stored.snaptrade_trade_id
    assert trade_id and stored.broker_preview_data["raw"]["trade"]["id"] == trade_id
    assert stored.broker_symbol_id == world.symbols["AAPL"]
    assert Decimal(str(stored.broker_preview_data["margin_impact"]["remaining_cash"])) == Decimal("99048.75")

    order = service.execute_trade(preview.preview_id)
    assert order.status == "EXECUTED" and order.filled_quantity == Decimal(5)
    assert order.average_fill_price == Decimal(190) and order.remaining_quantity == Decimal(0)
    assert world.sim.trade_used(trade_id) and world.sim.placed_order_count == 1
    auth = world.sim.authorization_id(world.paper)
    deadline = time.monotonic() + 10  # refresh_after_trade runs off the caller's path
    while world.sim.refresh_count(auth) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert world.sim.refresh_count(auth) == 1
    assert service.get_order_status(order.order_id).status == "EXECUTED"
    with pytest.raises(TradeError) as final:
        service.cancel_order(order.order_id)
    assert final.value.code is ErrorCode.ORDER_NOT_CANCELABLE


@pytest.mark.parametrize("form", ORDER_TYPES, ids=[f["order_type"] for f in ORDER_TYPES])
def test_resting_order_preview_execute_status_cancel(
    world: World, service: TradeExecutionService, form: dict[str, Any]
) -> None:
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 3, **form)
    order = service.execute_trade(preview.preview_id)
    assert order.status == "ACCEPTED" and order.brokerage_order_id
    assert service.get_order_status(order.order_id).status == "ACCEPTED"
    sim_order = world.sim.order(order.brokerage_order_id)
    assert (sim_order["order_type"], sim_order["total_quantity"]) == (form["order_type"], "3")
    assert sim_order["limit_price"] == form.get("limit_price") and sim_order["stop_price"] == form.get("stop_price")
    canceled = service.cancel_order(order.order_id)
    assert canceled.status == "CANCELED" and canceled.remaining_quantity == Decimal(0)
    assert world.sim.order(order.brokerage_order_id)["status"] == "CANCELED"


def test_partial_fill_then_fill_is_tracked(world: World, service: TradeExecutionService) -> None:
    order = service.execute_trade(service.preview_trade(world.paper, "AAPL", "SELL", 10, "Limit", "195").preview_id)
    assert order.status == "ACCEPTED"
    world.sim.fill(order.brokerage_order_id or "", quantity=Decimal(4), price=Decimal("195.10"))
    partial = service.get_order_status(order.order_id)
    assert (partial.status, partial.filled_quantity, partial.remaining_quantity) == ("PARTIAL", 4, 6)
    assert partial.average_fill_price == Decimal("195.10")
    world.sim.set_price("AAPL", Decimal("196"))  # the rest becomes marketable and fills
    done = service.get_order_status(order.order_id)
    assert (done.status, done.filled_quantity) == ("EXECUTED", 10)


def test_a_broker_rejection_in_the_placement_answer_is_recorded(
    world: World, service: TradeExecutionService
) -> None:
    world.sim.fill_policy = "reject"  # SnapTrade answers 200 with an order record whose status is REJECTED
    with pytest.raises(TradeError) as rejected:  # the same BROKER_REJECTED error IBKR gives
        service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", 1).preview_id)
    assert rejected.value.code is ErrorCode.BROKER_REJECTED
    assert rejected.value.details["status"] == "REJECTED" and rejected.value.details["brokerage_order_id"]
    assert service.get_order_status(rejected.value.details["order_id"]).status == "REJECTED"


def test_expired_trade_id_is_preview_expired_and_not_re_previewed(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 1)
    world.sim.advance_clock(301)
    with pytest.raises(TradeError) as expired:
        service.execute_trade(preview.preview_id)
    assert expired.value.code is ErrorCode.PREVIEW_EXPIRED and "preview the trade again" in expired.value.message
    assert expired.value.details["status"] == "FAILED"
    assert order_row(session_factory, expired.value.details["order_id"]).status == "FAILED"
    assert world.sim.placed_order_count == 0 and len(world.placements()) == 1
    assert sum(r.path == "/trade/impact" for r in world.sim.requests) == 1  # no silent re-preview


def test_insufficient_buying_power(world: World, service: TradeExecutionService,
                                   session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(TradeError) as at_preview:
        service.preview_trade(world.paper, "MSFT", "BUY", 1000)  # 420,000 > 100,000
    assert at_preview.value.code is ErrorCode.INSUFFICIENT_FUNDS
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 100)
    world.sim.set_cash(world.paper, Decimal("1000"))  # the money went elsewhere before the confirm
    with pytest.raises(TradeError) as at_execute:  # checked again at execute: refused before the intent
        service.execute_trade(preview.preview_id)
    assert at_execute.value.code is ErrorCode.INSUFFICIENT_FUNDS and "order_id" not in at_execute.value.details
    assert world.sim.placed_order_count == 0 and len(world.placements()) == 0


def test_paper_mode_refuses_a_live_account_and_live_mode_needs_the_override(
    world: World, make_service: ServiceFactory, tmp_path: Path
) -> None:
    paper = make_service()
    with pytest.raises(TradeError) as refused:
        paper.execute_trade(paper.preview_trade(world.live, "AAPL", "BUY", 1).preview_id)
    assert refused.value.code is ErrorCode.TRADING_DISABLED
    override = tmp_path / "live-ok"
    override.write_text("yes")
    live = make_service(TRADING_MODE="live", LIVE_TRADING_OVERRIDE_FILE=str(override))
    assert live.execute_trade(live.preview_trade(world.live, "AAPL", "BUY", 1).preview_id).status == "EXECUTED"
    assert world.sim.placed_order_count == 1


def test_a_preview_reads_the_positions_once_and_the_account_list_from_its_cache(
    world: World, service: TradeExecutionService
) -> None:
    """The balance needs the positions (SnapTrade reports no net liquidation) and so do the checks: one read."""
    service.preview_trade(world.paper, "AAPL", "BUY", 1)  # warm: the account list is cached after this
    before = len(world.sim.requests)
    service.preview_trade(world.paper, "AAPL", "SELL", 1)
    during = [r.path for r in world.sim.requests[before:]]
    assert sum(p.endswith("/positions/all") for p in during) == 1, during
    assert sum(p.endswith("/balances") for p in during) == 1, during
    assert len(during) == 4, during  # quote, impact, balances, positions: the account list comes from the cache
