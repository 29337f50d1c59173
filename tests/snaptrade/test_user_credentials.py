"""SnapTrade credentials per platform user, through the provider interface, against the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.snaptrade import SnapTradeBrokerAdapter
from brokers.snaptrade.client import SnapTradeCredentials
from brokers.snaptrade.user_credentials import MappedUserCredentials
from brokers.user_context import acting_for
from services.trade_execution import TradeExecutionService
from services.wiring import build_service
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


BOB_ID = "tradeexec-bob"


def test_accounts_cache_and_reconciliation_use_each_users_own_credentials(
    world: World, session_factory: sessionmaker[Session]
) -> None:
    """Two SnapTrade users with different accounts behind one adapter: listing is cached per user, and an order
    is refreshed and reconciled with the credentials of the user who placed it, whoever asks."""
    bob_secret = "bob/secret+="
    world.sim.add_user(BOB_ID, bob_secret)
    bobs = world.sim.add_account(BOB_ID, name="Bob Paper", number="BP-3003", cash=Decimal("20000"),
                                 institution="Alpaca Paper", is_paper=True)
    settings = world.settings()
    users = MappedUserCredentials(
        {"alice@example.com": (USER_ID, SecretStr(world.user_secret)), "bob@example.com": (BOB_ID,
                                                                                            SecretStr(bob_secret))},
        default=(USER_ID, SecretStr(world.user_secret)),
    )
    adapter = SnapTradeBrokerAdapter(SnapTradeCredentials.from_settings(settings), user_credentials=users)
    service = TradeExecutionService(settings, session_factory, [adapter])
    world.sim.fill_policy = "accept"  # orders rest ACCEPTED until filled
    try:
        with acting_for("bob@example.com"):
            assert [a.account_id for a in service.list_tradeable_accounts()] == [bobs]
        assert bobs not in {a.account_id for a in service.list_tradeable_accounts()}  # default user: cached apart
        with acting_for("alice@example.com"):
            assert not adapter.owns_account(bobs) and adapter.owns_account(world.paper)
        with acting_for("bob@example.com"):
            assert adapter.owns_account(bobs) and not adapter.owns_account(world.paper)

        preview = service.preview_order(bobs, "AAPL", "BUY", 2, "Limit", 180, user_email="bob@example.com")
        order = service.execute_order(preview.preview_id, user_email="bob@example.com")
        assert order.status == "ACCEPTED" and order.user_email == "bob@example.com"
        assert order.brokerage_order_id is not None
        world.sim.fill(order.brokerage_order_id, price=Decimal("179.50"))

        # reconciliation runs as nobody in particular; it must ask as bob, or the order is "not found"
        report = service.reconcile(include_active=True)
        assert report.errors == [] and report.settled == {order.order_id: "EXECUTED"}
        status = service.get_order_status(order.order_id)  # no user given: still bob's credentials
        assert status.status == "EXECUTED" and status.average_fill_price == Decimal("179.5")
        assert status.executed_at is not None

        second = service.execute_order(service.preview_order(bobs, "MSFT", "BUY", 1, "Limit", 400,
                                                             user_email="bob@example.com").preview_id)
        canceled = service.cancel_order(second.order_id)  # no user given: cancelled with bob's credentials
        assert canceled.status == "CANCELED" and canceled.cancelled_at is not None
    finally:
        service.close()


def test_the_platform_plugs_its_provider_into_build_service(world: World, database_url: str,
                                                            session_factory: sessionmaker[Session]) -> None:
    """build_service(snaptrade_users=...): the platform's provider, not the settings' pair, answers per user."""
    world.sim.add_user(BOB_ID, "bob-secret")
    bobs = world.sim.add_account(BOB_ID, name="Bob Paper", number="BP-3003", cash=Decimal("20000"),
                                 institution="Alpaca Paper", is_paper=True)
    users = MappedUserCredentials({"bob@example.com": (BOB_ID, SecretStr("bob-secret"))},
                                  default=(USER_ID, SecretStr(world.user_secret)))
    service = build_service(world.settings(DATABASE_URL=database_url), reconcile_on_start=False,
                            snaptrade_users=users)
    try:
        with acting_for("bob@example.com"):
            assert [a.account_id for a in service.list_tradeable_accounts()] == [bobs]
        preview = service.preview_order(bobs, "AAPL", "BUY", 1, user_email="bob@example.com")
        assert preview.user_email == "bob@example.com" and preview.snaptrade_trade_id
        assert {a.account_id for a in service.list_tradeable_accounts()} == {world.paper, world.live}
    finally:
        service.close()
