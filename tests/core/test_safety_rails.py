"""Safety is blocking: paper by default, orders off by default, live needs the override file, kill switch."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradeEvent, TradeOrder, TradePreview
from settings import Settings, TradingMode
from tests.core.conftest import ServiceFactory, make_settings
from tests.support.memory_broker import MemoryBroker


def count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_defaults_are_paper_and_orders_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRADING_MODE", "ORDERS_ENABLED", "TRADING_KILL_SWITCH"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.trading_mode is TradingMode.PAPER and settings.orders_enabled is False


@pytest.mark.parametrize("mode", ["Live!", "prod", "", "paper-ish"])
def test_unknown_trading_mode_fails_at_start_naming_the_variable(mode: str) -> None:
    with pytest.raises(ValidationError, match="TRADING_MODE"):
        make_settings(TRADING_MODE=mode)


def test_orders_disabled_stores_a_simulated_result_and_never_calls_the_broker(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    service = make_service(ORDERS_ENABLED=False)
    preview = service.preview_trade("DU111", "AAPL", "BUY", 5)
    order = service.execute_trade(preview.preview_id)
    assert order.status == "SIMULATED" and order.brokerage_order_id is None
    assert broker.place_calls == 0
    with pytest.raises(TradeError) as again:
        service.execute_trade(preview.preview_id)
    assert again.value.code is ErrorCode.ALREADY_EXECUTED
    assert broker.place_calls == 0 and count(session_factory, TradeOrder) == 1


@pytest.mark.parametrize("how", ["env", "file"])
def test_kill_switch_refuses_and_changes_nothing(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session],
    tmp_path: Path, how: str,
) -> None:
    switch = tmp_path / "STOP"
    service = make_service(TRADING_KILL_SWITCH=(how == "env"), TRADING_KILL_SWITCH_FILE=str(switch))
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    switch.touch()
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.TRADING_DISABLED and "KILL_SWITCH" in err.value.message
    assert broker.place_calls == 0 and count(session_factory, TradeOrder) == 0
    with session_factory() as s:
        stored = s.get(TradePreview, uuid.UUID(preview.preview_id))
        assert stored is not None and stored.status == "ACTIVE"
        refused = s.execute(select(TradeEvent).where(TradeEvent.event_type == "EXECUTE_REFUSED")).scalar_one()
    assert refused.error_code == "TRADING_DISABLED"


def test_live_orders_need_the_override_file(
    make_service: ServiceFactory, broker: MemoryBroker, tmp_path: Path
) -> None:
    override = tmp_path / "i-really-mean-it"
    service = make_service(TRADING_MODE="live", LIVE_TRADING_OVERRIDE_FILE=str(override))
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.TRADING_DISABLED and "LIVE_TRADING_OVERRIDE_FILE" in err.value.message
    assert broker.place_calls == 0
    override.write_text("yes\n")
    assert service.execute_trade(preview.preview_id).status == "EXECUTED"
    assert broker.place_calls == 1


def test_paper_mode_refuses_a_live_account(make_service: ServiceFactory, broker: MemoryBroker) -> None:
    broker.add_account("U999", cash="50000", is_paper=False)
    service = make_service(TRADING_MODE="paper")
    preview = service.preview_trade("U999", "AAPL", "BUY", 1)
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.TRADING_DISABLED and "paper" in err.value.message
    assert broker.place_calls == 0


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`TRADING_KILL_SWITCH_FILE=` must not become Path('.') (which always exists) or a bad limit."""
    for name in ("TRADING_KILL_SWITCH_FILE", "MAX_ORDER_NOTIONAL", "TRADING_MODE", "LIVE_TRADING_OVERRIDE_FILE"):
        monkeypatch.setenv(name, "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.trading_kill_switch_file is None and settings.max_order_notional is None
    assert settings.trading_mode is TradingMode.PAPER and settings.trading_block_reason() is None


@pytest.mark.parametrize("shape", ["dangling_symlink", "symlink_loop", "under_a_file", "missing_directory"])
def test_kill_switch_file_fails_closed(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session],
    tmp_path: Path, shape: str,
) -> None:
    switch = tmp_path / "STOP"
    if shape == "under_a_file":
        switch.touch()
        switch = switch / "STOP"  # ENOTDIR
    elif shape == "missing_directory":
        switch = tmp_path / "gone" / "STOP"
    service = make_service(TRADING_KILL_SWITCH_FILE=str(switch))
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    if shape == "dangling_symlink":
        switch.symlink_to(tmp_path / "nowhere")
    elif shape == "symlink_loop":
        switch.symlink_to(tmp_path / "STOP2")
        (tmp_path / "STOP2").symlink_to(switch)
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.TRADING_DISABLED and "TRADING_KILL_SWITCH_FILE" in err.value.message
    assert broker.place_calls == 0 and count(session_factory, TradeOrder) == 0
    with session_factory() as s:
        refused = s.execute(select(TradeEvent).where(TradeEvent.event_type == "EXECUTE_REFUSED")).scalar_one()
    assert refused.error_code == "TRADING_DISABLED"


def test_a_kill_switch_check_that_raises_is_a_refusal_and_audited(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:
    service = make_service(TRADING_KILL_SWITCH_FILE=str(tmp_path / "ST\0OP"))  # lstat raises ValueError
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.TRADING_DISABLED and "trading is off" in err.value.message
    assert broker.place_calls == 0
    with session_factory() as s:
        refused = s.execute(select(TradeEvent).where(TradeEvent.event_type == "EXECUTE_REFUSED")).scalar_one()
    assert refused.error_code == "TRADING_DISABLED"
