"""Refusals decided before anything is sent: mode, routing, holdings, and the confirmation's preview."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.models import BrokerProvider
from db.models import PreviewStatus, TradeEvent, TradeOrder, TradePreview
from tests.core.conftest import ServiceFactory
from tests.support.memory_broker import MemoryBroker


def _preview_status(factory: sessionmaker[Session], preview_id: str) -> PreviewStatus:
    with factory() as s:
        row = s.get(TradePreview, uuid.UUID(preview_id))
        assert row is not None
        return row.status


def _refusals(factory: sessionmaker[Session]) -> list[tuple[str | None, str | None]]:
    with factory() as s:
        rows = s.execute(
            select(TradeEvent.error_code, TradeEvent.message).where(TradeEvent.event_type == "EXECUTE_REFUSED")
        ).all()
    return [(code, message) for code, message in rows]


def _orders(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.execute(select(func.count()).select_from(TradeOrder)).scalar_one())


@pytest.mark.parametrize(("made_in", "executed_in"), [
    ({"ORDERS_ENABLED": False}, {"ORDERS_ENABLED": True}),
    ({"ORDERS_ENABLED": True, "TRADING_MODE": "live"}, {"ORDERS_ENABLED": True, "TRADING_MODE": "paper"}),
])
def test_a_preview_executed_in_another_mode_is_refused(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session], tmp_path: Path,
    made_in: dict[str, object], executed_in: dict[str, object],
) -> None:
    override = tmp_path / "live-ok"
    override.touch()
    preview = make_service(LIVE_TRADING_OVERRIDE_FILE=str(override), **made_in).preview_trade(
        "DU111", "AAPL", "BUY", 1)
    other = make_service(LIVE_TRADING_OVERRIDE_FILE=str(override), **executed_in)
    for attempt in (other.executable_preview, other.execute_trade):  # before a human is asked, and at execute
        with pytest.raises(TradeError) as err:
            attempt(uuid.UUID(preview.preview_id))
        assert err.value.code is ErrorCode.TRADING_DISABLED and "preview again" in err.value.message
    assert broker.place_calls == 0 and _orders(session_factory) == 0
    assert _preview_status(session_factory, preview.preview_id) is PreviewStatus.ACTIVE
    assert [code for code, _ in _refusals(session_factory)] == ["TRADING_DISABLED"]  # the execute's


def test_no_adapter_for_the_previews_broker_is_refused_before_the_intent(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    snaptrade = MemoryBroker(BrokerProvider.SNAPTRADE)
    snaptrade.add_account("ST-1", cash="100000")
    preview = make_service(adapters=[broker, snaptrade]).preview_trade("ST-1", "AAPL", "BUY", 1)
    ibkr_only = make_service(adapters=[broker])
    with pytest.raises(TradeError) as err:
        ibkr_only.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.BROKER_UNAVAILABLE and "not configured" in err.value.message
    assert _orders(session_factory) == 0 and snaptrade.place_calls == 0
    assert _preview_status(session_factory, preview.preview_id) is PreviewStatus.ACTIVE
    assert [code for code, _ in _refusals(session_factory)] == ["BROKER_UNAVAILABLE"]


def test_buying_power_is_checked_again_at_execute_counting_working_buys(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    broker.fill_market = False  # orders stay working, so their cash is spoken for
    service = make_service()
    first = service.preview_trade("DU111", "AAPL", "BUY", 300, order_type="Limit", limit_price="190")
    second = service.preview_trade("DU111", "AAPL", "BUY", 300, order_type="Limit", limit_price="190")
    assert service.execute_trade(first.preview_id).status == "ACCEPTED"
    with pytest.raises(TradeError) as err:
        service.execute_trade(second.preview_id)  # 2 x 57,001 > 100,000
    assert err.value.code is ErrorCode.INSUFFICIENT_FUNDS and "working buy orders" in err.value.message
    assert broker.place_calls == 1
    assert _preview_status(session_factory, second.preview_id) is PreviewStatus.ACTIVE
    assert [code for code, _ in _refusals(session_factory)] == ["INSUFFICIENT_FUNDS"]


def test_executable_preview_answers_before_a_human_is_asked(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    switch = tmp_path / "STOP"
    service = make_service(TRADING_KILL_SWITCH_FILE=str(switch))
    preview = service.preview_trade("DU111", "AAPL", "BUY", 2)
    shown = service.executable_preview(uuid.UUID(preview.preview_id))
    assert shown.preview.preview_id == preview.preview_id and shown.simulated is False and shown.preview.summary
    switch.touch()
    with pytest.raises(TradeError) as blocked:
        service.executable_preview(uuid.UUID(preview.preview_id))
    assert blocked.value.code is ErrorCode.TRADING_DISABLED
    switch.unlink()
    service.execute_trade(preview.preview_id)
    with pytest.raises(TradeError) as used:
        service.executable_preview(uuid.UUID(preview.preview_id))
    assert used.value.code is ErrorCode.ALREADY_EXECUTED
    assert _refusals(session_factory) == []  # read-only: the MCP layer records the refusal it acts on


def test_a_live_account_in_paper_mode_is_warned_at_preview_and_refused_before_confirmation(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    broker.add_account("U222", cash="100000", is_paper=False)
    service = make_service()
    preview = service.preview_trade("U222", "AAPL", "BUY", 1)
    assert any("cannot be executed" in w for w in preview.warnings)
    with pytest.raises(TradeError) as err:
        service.executable_preview(uuid.UUID(preview.preview_id))
    assert err.value.code is ErrorCode.TRADING_DISABLED and "not a paper account" in err.value.message
    assert broker.place_calls == 0


def test_a_padded_or_non_canonical_id_is_not_a_preview_id(make_service: ServiceFactory) -> None:
    service = make_service()
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    for raw in (" " + preview.preview_id, preview.preview_id + "\n", "{" + preview.preview_id + "}",
                preview.preview_id.replace("-", "")):
        with pytest.raises(TradeError) as err:
            service.execute_trade(raw)
        assert err.value.code is ErrorCode.PREVIEW_NOT_FOUND


def test_numbers_that_cannot_be_stored_are_validation_errors_naming_the_field(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    service = make_service()
    with pytest.raises(TradeError) as huge:
        service.preview_trade("DU111", "AAPL", "SELL", 10, order_type="Limit", limit_price="999999999999")
    assert huge.value.code is ErrorCode.VALIDATION_ERROR
    assert [p["field"] for p in huge.value.details["problems"]] == ["limit_price"]
    with pytest.raises(TradeError) as several:
        service.preview_trade("DU111", "AAPL", "BUY", "1.123456789", order_type="Limit")
    assert {p["field"] for p in several.value.details["problems"]} == {"quantity", "limit_price"}
    with session_factory() as s:
        refused = s.execute(select(TradeEvent.error_code).where(TradeEvent.event_type == "PREVIEW_REFUSED")).all()
    assert [code for (code,) in refused] == ["VALIDATION_ERROR"] * 2


def test_one_brokers_outage_does_not_hide_the_others_accounts(
    make_service: ServiceFactory, broker: MemoryBroker
) -> None:
    snaptrade = MemoryBroker(BrokerProvider.SNAPTRADE)
    snaptrade.add_account("ST-1")
    snaptrade.unavailable = True
    service = make_service(adapters=[broker, snaptrade])
    report = service.tradeable_accounts()
    assert [a.account_id for a in report.accounts] == ["DU111"]
    assert [(e.provider, e.error_code) for e in report.broker_errors] == [("snaptrade", "BROKER_UNAVAILABLE")]
    assert [a.account_id for a in service.list_tradeable_accounts()] == ["DU111"]
    broker.unavailable = True
    with pytest.raises(TradeError) as none_answered:
        service.list_tradeable_accounts()
    assert none_answered.value.code is ErrorCode.BROKER_UNAVAILABLE
