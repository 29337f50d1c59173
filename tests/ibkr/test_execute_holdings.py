"""Execute-time holdings check over the simulated gateway: previews cannot sell the same shares twice."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import PreviewStatus, TradeEvent, TradePreview
from services.results import OrderView
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, order_row, placed_orders, wait_until


def _execute(service: TradeExecutionService, preview_id: str) -> OrderView | TradeError:
    try:
        return service.execute_trade(preview_id)
    except TradeError as exc:
        return exc


def test_three_previews_of_the_whole_position_execute_once(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    bought = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", "17").preview_id)
    wait_until(lambda: order_row(session_factory, bought.order_id).status == "EXECUTED", what="the buy fill")
    wait_until(lambda: [p.quantity for p in service.get_positions(ACCOUNT)] == [Decimal(17)], what="the position")
    sim.auto_fill = False  # the sells rest at the gateway, so they stay working orders of this module
    previews = [service.preview_trade(ACCOUNT, "AAPL", "SELL", "17", order_type="Limit", limit_price="250")
                for _ in range(3)]  # each passes at preview: 17 are held

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda p: _execute(service, p.preview_id), previews))

    placed = [r for r in results if isinstance(r, OrderView)]
    refused = [r for r in results if isinstance(r, TradeError)]
    assert len(placed) == 1 and placed[0].status == "ACCEPTED"
    assert [r.code for r in refused] == [ErrorCode.INSUFFICIENT_POSITION] * 2
    assert "working sell orders" in refused[0].message
    assert len(placed_orders(sim)) == 2  # the buy and one sell: nothing else reached the gateway
    with session_factory() as session:
        statuses = dict(session.execute(select(TradePreview.id, TradePreview.status)).all())
        refusals = session.execute(
            select(TradeEvent.error_code).where(TradeEvent.event_type == "EXECUTE_REFUSED")
        ).scalars().all()
    assert sorted(statuses[uuid.UUID(p.preview_id)] for p in previews) == sorted(
        [PreviewStatus.EXECUTED, PreviewStatus.ACTIVE, PreviewStatus.ACTIVE]
    )
    assert refusals == ["INSUFFICIENT_POSITION"] * 2  # audited, and the refused previews were not consumed

