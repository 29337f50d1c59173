"""Read endpoints, each called through the unmodified SDK."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from snaptrade_client import ApiException

if TYPE_CHECKING:
    from .conftest import SdkApi


def test_list_user_accounts_shape(api: SdkApi) -> None:
    accounts = {a["id"]: a for a in api.client.account_information.list_user_accounts(**api.creds).body}
    acct = accounts[api.acct]
    assert acct["brokerage_authorization"] == api.sim.authorization_id(api.acct)
    assert acct["name"] == "Robinhood Individual"
    assert acct["institution_name"] == "Robinhood"
    assert acct["is_paper"] is False and accounts[api.paper]["is_paper"] is True
    # 100000 cash + 10 AAPL @190 + 5 MSFT @420
    assert acct["balance"]["total"] == {"amount": 104000.0, "currency": "USD"}
    assert acct["sync_status"]["holdings"]["initial_sync_completed"] is True


def test_list_all_user_accounts_shape(api: SdkApi) -> None:
    results = api.client.account_information.list_all_user_accounts(**api.creds).body["results"]
    by_id = {r["id"]: r for r in results}
    assert by_id[api.acct]["kind"] == "investment"
    assert by_id[api.acct]["connection_id"] == api.sim.authorization_id(api.acct)
    assert by_id[api.acct]["masked_account_number"] == "****0001"
    assert by_id[api.paper]["net_value"] == {"amount": 60200.0, "currency": "USD"}


def test_account_details(api: SdkApi) -> None:
    body = api.client.account_information.get_user_account_details(account_id=api.acct, **api.creds).body
    assert body["id"] == api.acct and body["number"] == "RH-0001"


def test_balances_are_floats_per_currency(api: SdkApi) -> None:
    body = api.client.account_information.get_user_account_balance(account_id=api.acct, **api.creds).body
    assert len(body) == 1
    assert body[0]["currency"]["code"] == "USD"
    assert body[0]["cash"] == 100000.0 and body[0]["buying_power"] == 100000.0


def test_positions_are_strings(api: SdkApi) -> None:
    body = api.client.account_information.get_all_account_positions(account_id=api.acct, **api.creds).body
    aapl = next(p for p in body["results"] if p["instrument"]["symbol"] == "AAPL")
    assert aapl["instrument"]["id"] == api.sym("AAPL")
    assert aapl["instrument"]["kind"] == "stock"
    assert (aapl["units"], aapl["price"], aapl["cost_basis"], aapl["currency"]) == ("10", "190", "150", "USD")
    assert "as_of" in body["data_freshness"]


def test_holdings_deprecated_endpoint(api: SdkApi) -> None:
    body = api.client.account_information.get_user_holdings(account_id=api.acct, **api.creds).body
    assert body["account"]["id"] == api.acct
    assert {p["symbol"]["symbol"]["symbol"] for p in body["positions"]} == {"AAPL", "MSFT"}
    assert body["total_value"]["value"] == 104000.0


def test_unknown_or_foreign_account_is_404(api: SdkApi) -> None:
    api.sim.add_user("other", "other-secret")
    foreign = api.sim.add_account("other", cash=Decimal("5"))
    for account in (str(uuid.uuid4()), foreign):
        with pytest.raises(ApiException) as info:
            api.balance(account)
        assert info.value.status == 404
        assert info.value.body["code"] == "1020"


def test_symbol_search(api: SdkApi) -> None:
    search = api.client.reference_data.symbol_search_user_account
    found = search(account_id=api.acct, substring="aapl", **api.creds).body
    assert found[0]["symbol"] == "AAPL" and found[0]["id"] == api.sym("AAPL")
    assert found[0]["currency"]["code"] == "USD" and found[0]["exchange"]["code"] == "NASDAQ"
    assert found[0]["type"]["code"] == "cs"
    by_name = search(account_id=api.acct, substring="micro", **api.creds).body
    assert [s["symbol"] for s in by_name] == ["MSFT"]
    assert search(account_id=api.acct, substring="zzzz", **api.creds).body == []


def test_symbol_search_caps_at_20(api: SdkApi) -> None:
    for n in range(25):
        api.sim.add_symbol(f"ZZ{n:02d}", "1", f"Zed {n}")
    found = api.client.reference_data.symbol_search_user_account(
        account_id=api.acct, substring="ZZ", **api.creds
    ).body
    assert len(found) == 20


def test_quotes_by_ticker_and_by_id(api: SdkApi) -> None:
    quotes = api.client.trading.get_user_account_quotes
    by_ticker = quotes(account_id=api.acct, symbols="AAPL,MSFT,NOPE", use_ticker=True, **api.creds).body
    assert [q["symbol"]["symbol"] for q in by_ticker] == ["AAPL", "MSFT"]
    aapl = by_ticker[0]
    assert aapl["last_trade_price"] == 190.0
    assert aapl["bid_price"] == 189.99 and aapl["ask_price"] == 190.01
    assert aapl["bid_size"] > 0 and aapl["ask_size"] > 0
    by_id = quotes(account_id=api.acct, symbols=api.sym("SPY"), **api.creds).body
    assert by_id[0]["symbol"]["symbol"] == "SPY"
    api.sim.set_price("SPY", "500", bid="499.5", ask="500.5")
    by_id = quotes(account_id=api.acct, symbols=api.sym("SPY"), use_ticker=False, **api.creds).body
    assert (by_id[0]["bid_price"], by_id[0]["ask_price"]) == (499.5, 500.5)


def test_orders_list_state_and_days_filters(api: SdkApi) -> None:
    old = api.force("AAPL", units=1.0)["brokerage_order_id"]  # Market: EXECUTED
    api.sim.advance_clock(3 * 86400)
    resting = api.force("AAPL", units=1.0, order_type="Limit", price=100.0)["brokerage_order_id"]
    canceled = api.force("MSFT", units=1.0, order_type="Limit", price=100.0)["brokerage_order_id"]
    api.cancel(canceled)
    ids = lambda orders: [o["brokerage_order_id"] for o in orders]  # noqa: E731
    assert ids(api.orders("all")) == [canceled, resting, old]  # newest first
    assert ids(api.orders("open")) == [resting]
    assert ids(api.orders("executed")) == [old]
    assert ids(api.orders("all", days=1)) == [canceled, resting]
    assert len(api.orders("all", days=100)) == 3  # the SDK sends 100; the simulator caps at 90


def test_order_detail_and_unknown_order_404(api: SdkApi) -> None:
    oid = api.force("AAPL", units=1.0)["brokerage_order_id"]
    assert api.order(oid)["brokerage_order_id"] == oid
    with pytest.raises(ApiException) as info:
        api.order("no-such-order")
    assert info.value.status == 404
    with pytest.raises(ApiException):
        api.order(oid, account=api.paper)  # wrong account


def test_recent_orders(api: SdkApi) -> None:
    api.force("AAPL", units=1.0)
    api.force("AAPL", units=1.0, order_type="Limit", price=1.0)
    body = api.client.account_information.get_user_account_recent_orders(account_id=api.acct, **api.creds).body
    assert [o["status"] for o in body["orders"]] == ["EXECUTED"]


def test_authorizations_and_refresh(api: SdkApi) -> None:
    auths = api.client.connections.list_brokerage_authorizations(**api.creds).body
    auth_id = api.sim.authorization_id(api.acct)
    assert auth_id in {a["id"] for a in auths}
    assert all(a["type"] == "trade" and a["disabled"] is False for a in auths)
    refresh = api.client.connections.refresh_brokerage_authorization
    assert refresh(authorization_id=auth_id, **api.creds).body == {"detail": "Connection scheduled for refresh"}
    assert api.sim.refresh_count(auth_id) == 1
    with pytest.raises(ApiException) as info:
        refresh(authorization_id=str(uuid.uuid4()), **api.creds)
    assert info.value.status == 404
    api.sim.set_authorization_disabled(auth_id, True)
    with pytest.raises(ApiException) as info:
        refresh(authorization_id=auth_id, **api.creds)
    assert info.value.status == 402
    assert api.sim.refresh_count(auth_id) == 1
