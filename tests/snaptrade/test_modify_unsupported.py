"""SnapTrade orders are not modified in place: its replace endpoint is brokerage dependent and may give the
order a new brokerage_order_id (a cancel and a new order), so the adapter's capabilities say no and
preview_modification answers UNSUPPORTED_ORDER, through a real MCP session, before anything is stored."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from db.models import TradeEvent, TradeModification
from services.trade_execution import TradeExecutionService
from tests.ibkr.test_modify import error_of, mcp_calls
from tests.mcp.test_confirmation import Human
from tests.snaptrade.conftest import World


def test_a_working_snaptrade_order_cannot_be_modified(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    order = service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", 3, "Limit", "180").preview_id)
    assert order.status == "ACCEPTED" and order.order_id
    human = Human()
    (result,) = mcp_calls(service, human, ("preview_modification", {"order_id": order.order_id,
                                                                    "limit_price": "181"}))
    refusal = error_of(result)
    assert refusal["error_code"] == ErrorCode.UNSUPPORTED_ORDER and "snaptrade" in refusal["message"]
    assert human.asked == []
    assert not any(r.path.endswith("/trading/replace") for r in world.sim.requests)
    assert world.sim.order(order.brokerage_order_id)["limit_price"] == "180"
    with session_factory() as session:
        assert session.execute(select(TradeModification)).first() is None
        refused = session.execute(select(TradeEvent.event_type).where(
            TradeEvent.event_type == "MODIFICATION_REFUSED")).scalars().all()
    assert refused == ["MODIFICATION_REFUSED"]
