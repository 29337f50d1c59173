"""The adapter's read side through the unmodified SDK against the simulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderRequest, OrderStatus
from brokers.records import OrderToPlace
from brokers.snaptrade import SnapTradeBrokerAdapter, SnapTradeCredentials
from services.wiring import build_adapters
from tests.snaptrade.conftest import USER_ID, World

AdapterFactory = Callable[..., SnapTradeBrokerAdapter]


def account_list_requests(world: World) -> int:
    return sum(1 for r in world.sim.requests if r.path == "/accounts/all")


def test_accounts_carry_is_paper_and_ownership_is_cached(world: World, adapter: SnapTradeBrokerAdapter) -> None:
    accounts = {a.account_id: a for a in adapter.list_accounts()}
    assert accounts[world.paper].is_paper is True and accounts[world.live].is_paper is False
    assert accounts[world.paper].name == "Alpaca Paper" and accounts[world.paper].currency == "USD"
    before = account_list_requests(world)
    for _ in range(5):
        assert adapter.owns_account(world.paper) and adapter.is_paper_account(world.paper)
        assert not adapter.is_paper_account(world.live)
    assert not adapter.owns_account("DU123456")  # not a UUID: never asks SnapTrade
    assert account_list_requests(world) == before


def test_an_unknown_uuid_reloads_at_most_every_few_seconds(world: World) -> None:
    now = [1000.0]
    adapter = SnapTradeBrokerAdapter(SnapTradeCredentials.from_settings(world.settings()), clock=lambda: now[0])
    try:
        adapter.list_accounts()
        before = account_list_requests(world)
        newcomer = world.sim.add_account(USER_ID, name="New", number="N-1", is_paper=True)
        assert not adapter.owns_account(newcomer) and not adapter.owns_account(newcomer)
        assert account_list_requests(world) == before  # loaded just now: a miss does not reload yet
        now[0] += 6
        assert adapter.owns_account(newcomer) and account_list_requests(world) == before + 1
        now[0] += 61
        assert adapter.owns_account(world.paper) and account_list_requests(world) == before + 2  # TTL over
    finally:
        adapter.close()


def test_wiring_builds_the_adapter_from_brokers(world: World) -> None:
    (adapter,) = build_adapters(world.settings(BROKERS="snaptrade"))
    try:
        assert isinstance(adapter, SnapTradeBrokerAdapter) and adapter.owns_account(world.paper)
    finally:
        adapter.close()


def test_symbols_quotes_balances_positions_are_decimal(world: World, adapter: SnapTradeBrokerAdapter) -> None:
    matches = adapter.search_symbol(world.paper, "AAPL")
    assert (matches[0].ticker, matches[0].broker_symbol_id, matches[0].sec_type) == (
        "AAPL", world.symbols["AAPL"], "STK")
    quote = adapter.get_quote(world.paper, "AAPL")
    assert (quote.last, quote.bid, quote.ask) == (Decimal("190.00"), Decimal("189.99"), Decimal("190.01"))
    balance = adapter.get_account_balance(world.paper)
    assert balance.cash == Decimal("100000") and balance.buying_power == Decimal("100000")
    assert balance.net_liquidation == Decimal("101900")  # cash + 10 AAPL at 190
    (position,) = adapter.get_positions(world.paper)
    assert (position.ticker, position.quantity, position.average_cost) == ("AAPL", Decimal(10), Decimal(150))
    assert position.broker_symbol_id == world.symbols["AAPL"] and position.market_value == Decimal(1900)
    assert all(isinstance(v, Decimal) for v in (quote.last, balance.cash, position.quantity))


def test_unknown_symbol_and_account(world: World, adapter: SnapTradeBrokerAdapter) -> None:
    with pytest.raises(TradeError) as no_quote:
        adapter.get_quote(world.paper, "NOPE")
    assert no_quote.value.code is ErrorCode.SYMBOL_NOT_FOUND
    with pytest.raises(TradeError) as no_account:
        adapter.get_positions("00000000-0000-4000-8000-000000000000")
    assert no_account.value.code is ErrorCode.ACCOUNT_NOT_FOUND


def test_orders_state_and_days(world: World, adapter: SnapTradeBrokerAdapter) -> None:
    assert adapter.get_orders(world.paper, "open", days=365) == []
    (request,) = [r for r in world.sim.requests if r.path.endswith("/orders")]
    assert request.query["state"] == "open" and request.query["days"] == "90"  # SnapTrade's cap
    with pytest.raises(TradeError) as bad:
        adapter.get_orders(world.paper, "closed")
    assert bad.value.code is ErrorCode.VALIDATION_ERROR


def test_refresh_after_trade_refreshes_the_brokerage_connection(world: World, adapter: SnapTradeBrokerAdapter) -> None:
    authorization = world.sim.authorization_id(world.paper)
    adapter.refresh_after_trade(world.paper)
    assert world.sim.refresh_count(authorization) == 1


def test_status_mapping_through_the_api(world: World, adapter: SnapTradeBrokerAdapter) -> None:
    world.sim.fill_policy = "accept"  # a Market order rests ACCEPTED, so fills can be dealt by hand
    request = OrderRequest(account_id=world.paper, ticker="AAPL", side="BUY", quantity=Decimal(10))
    preview = adapter.preview_order(request)
    placed = adapter.place_order(world.paper, OrderToPlace(
        request=request, broker_symbol_id=preview.broker_symbol_id, broker_trade_id=preview.broker_trade_id), "r")
    assert placed.status is OrderStatus.ACCEPTED and placed.brokerage_order_id
    oid = placed.brokerage_order_id
    world.sim.fill(oid, quantity=Decimal(4), price=Decimal("189.50"))
    partial = adapter.get_order(world.paper, oid)
    assert (partial.status, partial.filled_quantity, partial.remaining_quantity) == (
        OrderStatus.PARTIAL, Decimal(4), Decimal(6))
    assert partial.average_fill_price == Decimal("189.50")
    for raw, common in [("SUSPENDED", OrderStatus.PARTIAL), ("PARTIAL_CANCELED", OrderStatus.CANCELED)]:
        world.sim.set_order_status(oid, raw)
        seen = adapter.get_order(world.paper, oid)
        assert (seen.raw_status, seen.status) == (raw, common)


def test_reads_are_not_retried_and_are_bounded_by_the_timeout(
    world: World, make_adapter: AdapterFactory
) -> None:
    adapter = make_adapter(SNAPTRADE_TIMEOUT_SECONDS=1.5)
    world.sim.inject_fault(method="GET", path_regex="/positions/all$", status=503, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(TradeError) as unavailable:
        adapter.get_positions(world.paper)
    assert unavailable.value.code is ErrorCode.BROKER_UNAVAILABLE and unavailable.value.details["http_status"] == 503
    assert sum(1 for r in world.sim.requests if r.path.endswith("/positions/all")) == 1
    world.sim.inject_fault(method="GET", path_regex="/balances$", status=200, hang_seconds=30)
    with pytest.raises(TradeError) as slow:
        adapter.get_account_balance(world.paper)
    assert slow.value.code is ErrorCode.BROKER_UNAVAILABLE and "within 1.5 s" in slow.value.message
    assert time.monotonic() - started < 15  # neither Retry-After nor the hang was waited out


def test_bad_signature_configuration_gives_a_clear_error(world: World, make_adapter: AdapterFactory) -> None:
    adapter = make_adapter(SNAPTRADE_CONSUMER_KEY="not-the-key")
    with pytest.raises(TradeError) as bad_key:
        adapter.list_accounts()
    assert bad_key.value.code is ErrorCode.BROKER_UNAVAILABLE
    assert "signature" in bad_key.value.message and "SNAPTRADE_CONSUMER_KEY" in bad_key.value.message
    assert "not-the-key" not in str(bad_key.value.to_dict())
    wrong_user = make_adapter(SNAPTRADE_USER_SECRET="wrong-secret")
    with pytest.raises(TradeError) as bad_user:
        wrong_user.list_accounts()
    assert "SNAPTRADE_USER_SECRET" in bad_user.value.message and "wrong-secret" not in str(bad_user.value.to_dict())
