"""Expired previews are re-quoted, never placed; baskets run each leg once, best effort (contract: Batches)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from mcp import Client
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from db.models import TradeEvent, TradeOrder, TradePreview
from services.order_store import utcnow
from services.trade_execution import TradeExecutionService
from tests.mcp.conftest import ServerFactory, make_settings, payload, tool_error
from tests.mcp.test_tools import call, run
from tests.support.memory_broker import MemoryBroker


def _expire(session_factory: sessionmaker[Session], preview_id: str) -> None:
    with session_factory.begin() as session:
        session.execute(update(TradePreview).where(TradePreview.id == uuid.UUID(preview_id))
                        .values(expires_at=utcnow()))


def test_expired_preview_comes_back_requoted_at_current_prices(
    session_factory: sessionmaker[Session], ibkr: MemoryBroker
) -> None:
    service = TradeExecutionService(make_settings(), session_factory, [ibkr])
    old = service.preview_order("DU111", "AAPL", "BUY", 2)
    _expire(session_factory, old.preview_id)
    ibkr.prices["AAPL"] = Decimal("200.00")
    result = service.execute_order(old.preview_id)
    assert ibkr.place_calls == 0 and result.order_id is None and result.brokerage_order_id is None
    assert result.error_code == ErrorCode.PREVIEW_EXPIRED
    assert "prices may have changed" in (result.message or "").lower()
    fresh = result.new_preview
    assert fresh is not None and fresh.preview_id != old.preview_id
    assert (fresh.ticker, fresh.side, fresh.quantity) == ("AAPL", "BUY", 2) and fresh.estimated_price == 200
    again = service.execute_order(old.preview_id)  # the old one stays dead; each call re-quotes, never places
    assert again.new_preview is not None and ibkr.place_calls == 0
    placed = service.execute_order(fresh.preview_id)  # the human confirmed the new figures
    assert placed.order_status == "EXECUTED" and ibkr.place_calls == 1


def test_batch_with_one_expired_leg(session_factory: sessionmaker[Session], ibkr: MemoryBroker) -> None:
    service = TradeExecutionService(make_settings(), session_factory, [ibkr])
    legs = [service.preview_order("DU111", t, "BUY", 1).preview_id for t in ("AAPL", "MSFT", "AAPL")]
    _expire(session_factory, legs[1])
    result = service.execute_orders([*legs, legs[0]])  # a repeated id is one leg
    assert [leg.status for leg in result.legs] == ["placed", "reprieved", "placed"]
    assert result.status == "needs_confirmation" and ibkr.place_calls == 2
    [reprieved] = result.reprieved_legs
    assert reprieved["preview_id"] == legs[1] and reprieved["new_preview_id"] not in legs
    again = service.execute_orders(legs)  # exactly once per leg across calls
    assert [leg.status for leg in again.legs] == ["failed", "reprieved", "failed"]
    assert {leg.error["error_code"] for leg in again.legs if leg.error} == {ErrorCode.ALREADY_EXECUTED}
    assert ibkr.place_calls == 2
    done = service.execute_orders([reprieved["new_preview_id"]])
    assert done.status == "completed" and ibkr.place_calls == 3
    bad = service.execute_orders(["nope"])
    assert bad.status == "failed" and bad.legs[0].error["error_code"] == ErrorCode.PREVIEW_NOT_FOUND
    with session_factory() as session:
        kinds = set(session.execute(select(TradeEvent.event_type)).scalars())
        assert {"BATCH_REQUESTED", "BATCH_RESULT"} <= kinds
        assert session.query(TradeOrder).count() == 3


def test_batch_over_mcp_confirms_once_and_requotes_over_the_prompt(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    prompts: list[str] = []

    async def answer(_context: object, params: object) -> object:
        from mcp_types import ElicitResult

        prompts.append(params.message)  # type: ignore[attr-defined]
        return ElicitResult(action="accept", content={"confirm": True})

    async def scenario(client: Client) -> None:
        ids = [payload(await call(client, "preview_trade", account_id="DU111", ticker=t, side="BUY",
                                  quantity=1))["preview_id"] for t in ("AAPL", "MSFT")]
        _expire(session_factory, ids[1])
        result = payload(await call(client, "execute_trades", preview_ids=ids))
        assert result["status"] == "needs_confirmation" and result["placed_legs"] == [ids[0]]
        new_id = result["reprieved_legs"][0]["new_preview_id"]
        assert "MSFT" in prompts[-1] and "EXPIRED, will be re-quoted" in prompts[-1]
        order = payload(await call(client, "execute_trade", preview_id=new_id))
        assert order["order_status"] == "EXECUTED"
        assert "MSFT" in prompts[-1] and new_id in prompts[-1]  # the prompt shows the new figures
        error = tool_error(await call(client, "execute_trades", preview_ids="not-a-list"))
        assert error["error_code"] == ErrorCode.VALIDATION_ERROR

    from tests.mcp.test_tools import MODES

    run(make_server(), scenario, MODES[0], elicitation_callback=answer)
    assert ibkr.place_calls == 2


def test_batch_in_browser_mode_is_refused_whatever_the_client_answers(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    """Only the /ui page may confirm in browser mode: a client's (a model's) 'yes' to a basket places nothing."""
    asked: list[str] = []

    async def yes(_context: object, params: object) -> object:
        from mcp_types import ElicitResult

        asked.append(params.message)  # type: ignore[attr-defined]
        return ElicitResult(action="accept", content={"confirm": True})

    async def scenario(client: Client) -> None:
        ids = [payload(await call(client, "preview_trade", account_id="DU111", ticker=t, side="BUY",
                                  quantity=1))["preview_id"] for t in ("AAPL", "MSFT")]
        error = tool_error(await call(client, "execute_trades", preview_ids=ids))
        assert error["error_code"] == ErrorCode.TRADING_DISABLED
        assert error["details"]["reason"] == "browser_confirmation_required"

    from tests.mcp.test_tools import MODES

    server = make_server(EXECUTE_CONFIRMATION="browser", OPERATOR_TOKEN="operator-token-0123456789")
    run(server, scenario, MODES[0], elicitation_callback=yes)
    assert ibkr.place_calls == 0 and asked == []
    with session_factory() as session:
        assert session.query(TradeOrder).count() == 0
        refused = session.execute(
            select(TradeEvent.preview_id).where(TradeEvent.event_type == "EXECUTE_REFUSED")
        ).scalars().all()
        assert len(refused) == 2


def test_a_baskets_prompt_lines_come_from_the_service(
    session_factory: sessionmaker[Session], ibkr: MemoryBroker
) -> None:
    """The tool layer opens no session: the service says what each leg is, and the prompt says what will happen."""
    from mcp_tools.batch import leg_lines

    service = TradeExecutionService(make_settings(), session_factory, [ibkr])
    used, expired, fresh = (service.preview_order("DU111", t, "BUY", 1).preview_id for t in ("AAPL", "MSFT", "AAPL"))
    service.execute_order(used)
    _expire(session_factory, expired)
    unknown = uuid.uuid4()
    legs = service.executable_previews([uuid.UUID(p) for p in (used, expired, fresh)] + [unknown])
    assert [leg.state for leg in legs] == ["used", "expired", "executable", "unknown"]
    lines = leg_lines(legs)
    assert lines[0].endswith(": already EXECUTED, not placed again") and "AAPL" in lines[0]
    assert lines[1].endswith(": EXPIRED, will be re-quoted, not placed") and "MSFT" in lines[1]
    assert lines[2].startswith("3. ") and "BUY 1 AAPL" in lines[2]
    assert lines[3] == f"4. unknown preview {unknown}: nothing placed"
    assert ibkr.place_calls == 1
