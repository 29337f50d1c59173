"""EXECUTE_CONFIRMATION: the human confirms through elicitation; declining places nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from db.models import TradeEvent, TradePreview
from services.order_store import utcnow
from tests.mcp.conftest import ServerFactory, payload, tool_error
from tests.mcp.test_tools import MODES, call, preview, run
from tests.support.memory_broker import MemoryBroker


class Human:
    """An elicitation callback that records what it was shown and answers as told."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"confirm": self.confirm})
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


def execute_after_preview(server: Any, mode: str, human: Human | None) -> tuple[dict[str, Any], Any]:
    async def scenario(client: Client) -> tuple[dict[str, Any], Any]:
        shown = await preview(client)
        return shown, await call(client, "execute_trade", preview_id=shown["preview_id"])

    options = {"elicitation_callback": human} if human is not None else {}
    return run(server, scenario, mode, **options)  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODES)
def test_accepting_the_prompt_places_the_order(make_server: ServerFactory, ibkr: MemoryBroker, mode: str) -> None:
    human = Human()
    shown, result = execute_after_preview(make_server(), mode, human)
    assert payload(result)["status"] == "EXECUTED"
    assert ibkr.place_calls == 1
    assert len(human.asked) == 1
    assert shown["summary"] in human.asked[0] and shown["preview_id"] in human.asked[0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("action", "confirm", "answer"), [
    ("decline", True, "declined"), ("cancel", True, "dismissed"), ("accept", False, "declined"),
])
def test_declining_places_nothing_and_keeps_the_preview(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session],
    mode: str, action: str, confirm: bool, answer: str,
) -> None:
    shown, result = execute_after_preview(make_server(), mode, Human(action, confirm))
    error = tool_error(result)
    assert error["error_code"] == ErrorCode.CONFIRMATION_DECLINED
    assert error["details"] == {"preview_id": shown["preview_id"], "answer": answer, "placed": False}
    assert ("closed the confirmation prompt" in error["message"]) == (answer == "dismissed")
    assert ibkr.place_calls == 0
    with session_factory() as session:
        row = session.get(TradePreview, uuid.UUID(shown["preview_id"]))
        assert row is not None and row.status == "ACTIVE"
        events = session.execute(select(TradeEvent.event_type).where(TradeEvent.preview_id == row.id)).scalars()
        assert ("EXECUTE_DISMISSED" if answer == "dismissed" else "EXECUTE_DECLINED") in list(events)


def test_a_simulation_is_not_put_to_the_human(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    """ORDERS_ENABLED off: nothing can reach a broker, so the outcome is decided without a prompt."""
    human = Human(action="decline")
    _shown, result = execute_after_preview(make_server(ORDERS_ENABLED=False), "legacy", human)
    assert payload(result)["simulated"] is True
    assert human.asked == [] and ibkr.place_calls == 0


@pytest.mark.parametrize("mode", MODES)
def test_auto_without_elicitation_support_relies_on_the_llm(
    make_server: ServerFactory, ibkr: MemoryBroker, mode: str
) -> None:
    _shown, result = execute_after_preview(make_server(EXECUTE_CONFIRMATION="auto"), mode, None)
    assert payload(result)["status"] == "EXECUTED"
    assert ibkr.place_calls == 1


@pytest.mark.parametrize("mode", MODES)
def test_always_refuses_when_the_client_cannot_ask_and_audits_it(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session], mode: str,
) -> None:
    shown, result = execute_after_preview(make_server(EXECUTE_CONFIRMATION="always"), mode, None)
    error = tool_error(result)
    assert error["error_code"] == ErrorCode.TRADING_DISABLED
    assert error["details"]["reason"] == "confirmation_unavailable"
    assert ibkr.place_calls == 0
    with session_factory() as session:
        refusals = session.execute(select(TradeEvent.error_code).where(
            TradeEvent.preview_id == uuid.UUID(shown["preview_id"]), TradeEvent.event_type == "EXECUTE_REFUSED",
        )).scalars().all()
    assert refusals == [ErrorCode.TRADING_DISABLED]


def test_always_asks_when_it_can(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    human = Human()
    _shown, result = execute_after_preview(make_server(EXECUTE_CONFIRMATION="always"), "auto", human)
    assert payload(result)["status"] == "EXECUTED" and len(human.asked) == 1


def test_never_does_not_ask(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    human = Human(action="decline")
    _shown, result = execute_after_preview(make_server(EXECUTE_CONFIRMATION="never"), "legacy", human)
    assert payload(result)["status"] == "EXECUTED" and human.asked == []


def test_no_prompt_for_a_preview_that_cannot_execute(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    human = Human()
    server = make_server()

    async def scenario(client: Client) -> list[Any]:
        shown = await preview(client)
        first = await call(client, "execute_trade", preview_id=shown["preview_id"])
        again = await call(client, "execute_trade", preview_id=shown["preview_id"])
        unknown = await call(client, "execute_trade", preview_id=str(uuid.uuid4()))
        return [first, again, unknown]

    first, again, unknown = run(server, scenario, "legacy", elicitation_callback=human)
    assert payload(first)["status"] == "EXECUTED"
    assert tool_error(again)["error_code"] == ErrorCode.ALREADY_EXECUTED
    assert tool_error(unknown)["error_code"] == ErrorCode.PREVIEW_NOT_FOUND
    assert len(human.asked) == 1 and ibkr.place_calls == 1


def test_a_client_cannot_answer_the_confirmation_itself(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    """The confirmation and the parsed arguments are filled by the server; as arguments they are unknown names."""
    human = Human(action="decline")

    async def scenario(client: Client) -> Any:
        shown = await preview(client)
        return await call(client, "execute_trade", preview_id=shown["preview_id"], confirmation={"confirm": True},
                          parsed={"values": {"preview_id": shown["preview_id"]}})

    error = tool_error(run(make_server(), scenario, "legacy", elicitation_callback=human))
    assert error["error_code"] == ErrorCode.VALIDATION_ERROR
    assert {p["field"] for p in error["details"]["problems"]} == {"confirmation", "parsed"}
    assert human.asked == [] and ibkr.place_calls == 0


def test_no_prompt_for_a_live_account_in_paper_mode_or_an_expired_preview(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    ibkr.add_account("U222", cash="100000", is_paper=False)
    human = Human()
    server = make_server()

    async def scenario(client: Client) -> list[Any]:
        live = await preview(client, account_id="U222")
        stale = await preview(client)
        with session_factory.begin() as session:
            session.execute(update(TradePreview).where(TradePreview.id == uuid.UUID(stale["preview_id"]))
                            .values(expires_at=utcnow() - timedelta(seconds=1)))
        return [await call(client, "execute_trade", preview_id=live["preview_id"]),
                await call(client, "execute_trade", preview_id=stale["preview_id"])]

    live, stale = run(server, scenario, "legacy", elicitation_callback=human)
    assert tool_error(live)["error_code"] == ErrorCode.TRADING_DISABLED
    requoted = payload(stale)  # nothing placed; a fresh preview of the same order comes back to be confirmed
    assert requoted["error_code"] == ErrorCode.PREVIEW_EXPIRED and requoted["placed"] is False
    assert human.asked == [] and ibkr.place_calls == 0
