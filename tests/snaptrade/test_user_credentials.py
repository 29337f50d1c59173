"""SnapTrade credentials per platform user, through the provider interface, against the simulator."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.snaptrade import SnapTradeBrokerAdapter
from brokers.snaptrade.client import SnapTradeCredentials
from brokers.snaptrade.user_credentials import MappedUserCredentials
from services.trade_execution import TradeExecutionService
from tests.snaptrade.conftest import USER_ID, World


def test_each_platform_user_trades_as_their_snaptrade_user(
    world: World, session_factory: sessionmaker[Session]
) -> None:
    settings = world.settings(SNAPTRADE_USER_SECRET="not-the-secret")  # the settings pair is not used
    users = MappedUserCredentials({"alice@example.com": (USER_ID, SecretStr(world.user_secret))})
    adapter = SnapTradeBrokerAdapter(SnapTradeCredentials.from_settings(settings), user_credentials=users)
    service = TradeExecutionService(settings, session_factory, [adapter])
    try:
        preview = service.preview_order(world.paper, "AAPL", "BUY", 1, user_email="alice@example.com")
        assert preview.user_email == "alice@example.com" and preview.snaptrade_trade_id
        with pytest.raises(TradeError) as stranger:
            service.preview_order(world.paper, "AAPL", "BUY", 1, user_email="mallory@example.com")
        assert stranger.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    finally:
        service.close()
