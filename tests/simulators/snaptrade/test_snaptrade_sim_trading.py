"""Impact, placement, fills, cancels and trade-id rules, through the unmodified SDK."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from snaptrade_client import ApiException
from snaptrade_client.exceptions import SchemaValidationError

from simulators.snaptrade import ORDER_STATUSES

if TYPE_CHECKING:
    from .conftest import SdkApi


def _error(call: Any, *args: Any, **kwargs: Any) -> ApiException:
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    return info.value


def test_impact_shape(api: SdkApi) -> None:
    body = api.impact("AAPL", "BUY", 2.0)
    trade = body["trade"]
    uuid.UUID(trade["id"])
    assert (trade["account"], trade["action"], trade["order_type"], trade["time_in_force"]) == (
        api.acct, "BUY", "Market", "Day")
    assert (trade["units"], trade["price"]) == (2.0, 190.0)
    assert trade["symbol"]["universal_symbol_id"] == api.sym("AAPL")
    assert trade["symbol"]["currency"]["code"] == "USD"
    impact = body["trade_impacts"][0]
    assert impact["remaining_cash"] == 99620.0
    assert impact["estimated_commission"] == 0.0 and impact["forex_fees"] == 0.0
    assert body["combined_remaining_balance"]["cash"] == 99620.0
    assert body["combined_remaining_balance"]["account"]["number"] == "RH-0001"


def test_market_buy_fills_and_moves_cash_and_position(api: SdkApi) -> None:
    trade_id = api.impact("AAPL", "BUY", 2.0)["trade"]["id"]
    order = api.place(trade_id, wait_to_confirm=True)
    assert order["status"] == "EXECUTED"
    assert (order["total_quantity"], order["filled_quantity"], order["open_quantity"]) == ("2", "2", "0")
    assert order["execution_price"] == "190" and order["universal_symbol"]["symbol"] == "AAPL"
    assert order["time_executed"] is not None
    assert api.balance()["cash"] == 99620.0
    assert api.units()["AAPL"] == Decimal("12")
    assert api.sim.cash(api.acct) == Decimal("99620.00")
    positions = api.client.account_information.get_all_account_positions(account_id=api.acct, **api.creds).body
    aapl = next(p for p in positions["results"] if p["instrument"]["symbol"] == "AAPL")
    assert aapl["cost_basis"] == "156.666667"  # (10*150 + 2*190) / 12
    assert api.sim.placed_order_count == 1
    assert [o["brokerage_order_id"] for o in api.sim.orders(api.acct)] == [order["brokerage_order_id"]]


def test_market_sell_credits_cash_and_closes_position(api: SdkApi) -> None:
    api.place(api.impact("MSFT", "SELL", 5.0)["trade"]["id"])
    assert api.balance()["cash"] == 102100.0
    assert "MSFT" not in api.units()


def test_insufficient_cash_on_buy_impact_is_400(api: SdkApi) -> None:
    exc = _error(api.impact, "AAPL", "BUY", 1000.0)
    assert exc.status == 400
    assert exc.body["code"] == "1011"
    assert "Insufficient buying power" in exc.body["detail"]
    assert "190,000.00" in exc.body["detail"] and "100,000.00" in exc.body["detail"]


def test_selling_more_than_held_is_400(api: SdkApi) -> None:
    exc = _error(api.impact, "AAPL", "SELL", 11.0)
    assert (exc.status, exc.body["code"]) == (400, "1012")


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"order_type": "Limit"}, "price is required"),
    ({"order_type": "Stop"}, "stop is required"),
    ({"order_type": "StopLimit", "stop": 180.0}, "price is required"),
])
def test_missing_prices_are_400(api: SdkApi, kwargs: dict[str, Any], words: str) -> None:
    exc = _error(api.impact, "AAPL", "BUY", 1.0, **kwargs)
    assert exc.status == 400 and words in exc.body["detail"]


def test_unknown_symbol_or_foreign_account_is_400(api: SdkApi) -> None:
    exc = _error(api.client.trading.get_order_impact, account_id=api.acct, action="BUY",
                 universal_symbol_id=str(uuid.uuid4()), order_type="Market", time_in_force="Day",
                 units=1.0, **api.creds)
    assert exc.status == 400
    api.sim.add_user("other", "s")
    foreign = api.sim.add_account("other")
    assert _error(api.impact, account=foreign).status == 400


def test_sdk_rejects_int_and_decimal_units_before_sending(api: SdkApi) -> None:
    """Quirk for the adapter: units/price must be Python floats."""
    with pytest.raises(SchemaValidationError):
        api.client.trading.get_order_impact(account_id=api.acct, action="BUY", universal_symbol_id=api.sym("AAPL"),
                                            order_type="Market", time_in_force="Day", units=1, **api.creds)
    with pytest.raises(TypeError):  # the signing code json.dumps the body
        api.client.trading.get_order_impact(account_id=api.acct, action="BUY", universal_symbol_id=api.sym("AAPL"),
                                            order_type="Market", time_in_force="Day", units=Decimal("1"),
                                            **api.creds)
    assert api.sim.requests == []


def test_limit_buy_rests_then_fills_on_set_price(api: SdkApi) -> None:
    order = api.place(api.impact("AAPL", "BUY", 5.0, order_type="Limit", price=180.0)["trade"]["id"])
    oid = order["brokerage_order_id"]
    assert order["status"] == "ACCEPTED"
    assert (order["open_quantity"], order["filled_quantity"], order["limit_price"]) == ("5", "0", "180")
    assert api.balance()["buying_power"] == 100000.0 - 900.0  # reserved by the open order
    assert api.balance()["cash"] == 100000.0
    api.sim.set_price("AAPL", "185")
    assert api.order(oid)["status"] == "ACCEPTED"
    api.sim.set_price("AAPL", "179.5")
    filled = api.order(oid)
    assert (filled["status"], filled["filled_quantity"], filled["execution_price"]) == ("EXECUTED", "5", "179.5")
    assert api.balance()["cash"] == 100000.0 - 897.5
    assert api.units()["AAPL"] == Decimal("15")


def test_marketable_limit_fills_at_market(api: SdkApi) -> None:
    order = api.force("AAPL", "BUY", 1.0, order_type="Limit", price=200.0)
    assert (order["status"], order["execution_price"]) == ("EXECUTED", "190")


def test_limit_sell_rests_until_price_rises(api: SdkApi) -> None:
    oid = api.force("AAPL", "SELL", 4.0, order_type="Limit", price=200.0)["brokerage_order_id"]
    assert api.order(oid)["status"] == "ACCEPTED"
    assert _error(api.impact, "AAPL", "SELL", 7.0).body["code"] == "1012"  # 4 of 10 reserved
    api.sim.set_price("AAPL", "201")
    assert api.order(oid)["status"] == "EXECUTED"
    assert api.balance()["cash"] == 100804.0
    assert api.units()["AAPL"] == Decimal("6")


def test_stop_and_stop_limit_trigger_on_set_price(api: SdkApi) -> None:
    stop = api.force("AAPL", "SELL", 2.0, order_type="Stop", stop=180.0)["brokerage_order_id"]
    stop_limit = api.force("AAPL", "SELL", 2.0, order_type="StopLimit", stop=185.0, price=184.0)
    assert api.order(stop)["status"] == "ACCEPTED" and stop_limit["status"] == "ACCEPTED"
    api.sim.set_price("AAPL", "183")  # stop-limit triggers, but 183 < 184 limit: rests
    assert api.order(stop_limit["brokerage_order_id"])["status"] == "ACCEPTED"
    assert api.order(stop)["status"] == "ACCEPTED"
    api.sim.set_price("AAPL", "179")  # stop triggers and fills at market
    assert (api.order(stop)["status"], api.order(stop)["execution_price"]) == ("EXECUTED", "179")
    api.sim.set_price("AAPL", "184.5")  # triggered stop-limit now marketable
    assert api.order(stop_limit["brokerage_order_id"])["execution_price"] == "184.5"


def test_partial_fills(api: SdkApi) -> None:
    oid = api.force("AAPL", "BUY", 5.0, order_type="Limit", price=150.0)["brokerage_order_id"]
    api.sim.fill(oid, quantity=2, price="149")
    partial = api.order(oid)
    assert partial["status"] == "PARTIAL"
    assert (partial["filled_quantity"], partial["open_quantity"], partial["execution_price"]) == ("2", "3", "149")
    assert api.balance()["cash"] == 100000.0 - 298.0
    assert api.units()["AAPL"] == Decimal("12")
    assert [o["brokerage_order_id"] for o in api.orders("open")] == [oid]
    api.sim.fill(oid, price="150")
    done = api.order(oid)
    assert (done["status"], done["filled_quantity"], done["open_quantity"]) == ("EXECUTED", "5", "0")
    assert done["execution_price"] == "149.6"
    with pytest.raises(ValueError, match="already EXECUTED"):
        api.sim.fill(oid)


def test_cancel_open_order_then_cancel_again_is_400(api: SdkApi) -> None:
    oid = api.force("AAPL", "BUY", 3.0, order_type="Limit", price=100.0)["brokerage_order_id"]
    assert api.cancel(oid) == {"brokerage_order_id": oid, "raw_response": {}}
    canceled = api.order(oid)
    assert (canceled["status"], canceled["canceled_quantity"], canceled["open_quantity"]) == ("CANCELED", "3", "0")
    exc = _error(api.cancel, oid)
    assert (exc.status, exc.body["code"]) == (400, "1016")
    assert "CANCELED" in exc.body["detail"]
    assert api.balance()["buying_power"] == 100000.0


def test_cancel_executed_or_unknown_order(api: SdkApi) -> None:
    oid = api.force("AAPL", "BUY", 1.0)["brokerage_order_id"]
    assert _error(api.cancel, oid).status == 400
    assert _error(api.cancel, "nope").status == 404


def test_cancel_partially_filled_order_keeps_the_fill(api: SdkApi) -> None:
    oid = api.force("AAPL", "BUY", 5.0, order_type="Limit", price=100.0)["brokerage_order_id"]
    api.sim.fill(oid, quantity=1)
    api.cancel(oid)
    body = api.order(oid)
    assert (body["status"], body["filled_quantity"], body["canceled_quantity"]) == ("CANCELED", "1", "4")


def test_cancel_pending_policy(api: SdkApi) -> None:
    api.sim.cancel_policy = "pending"
    oid = api.force("AAPL", "BUY", 1.0, order_type="Limit", price=100.0)["brokerage_order_id"]
    api.cancel(oid)
    assert api.order(oid)["status"] == "CANCEL_PENDING"
    api.sim.set_order_status(oid, "CANCELED")
    assert api.order(oid)["status"] == "CANCELED"


def test_trade_id_is_single_use(api: SdkApi) -> None:
    trade_id = api.impact()["trade"]["id"]
    api.place(trade_id)
    exc = _error(api.place, trade_id)
    assert (exc.status, exc.body["code"]) == (400, "1014")
    assert "already been used" in exc.body["detail"]
    assert api.sim.placed_order_count == 1
    assert api.sim.trade_used(trade_id)


def test_trade_id_expires_after_300_seconds_of_the_sim_clock(api: SdkApi) -> None:
    fresh = api.impact()["trade"]["id"]
    stale = api.impact()["trade"]["id"]
    api.sim.advance_clock(299)
    assert api.place(fresh)["status"] == "EXECUTED"
    api.sim.advance_clock(2)
    exc = _error(api.place, stale)
    assert (exc.status, exc.body["code"]) == (400, "1013")
    assert "expired" in exc.body["detail"]
    assert api.sim.placed_order_count == 1


def test_unknown_trade_id_is_400(api: SdkApi) -> None:
    exc = _error(api.place, str(uuid.uuid4()))
    assert (exc.status, exc.body["code"]) == (400, "1015")


def test_force_place_by_ticker_and_by_notional(api: SdkApi) -> None:
    by_ticker = api.client.trading.place_force_order(
        account_id=api.acct, action="BUY", symbol="msft", order_type="Market", time_in_force="Day",
        units=1.0, **api.creds).body
    assert by_ticker["universal_symbol"]["symbol"] == "MSFT" and by_ticker["status"] == "EXECUTED"
    notional = api.client.trading.place_force_order(
        account_id=api.acct, action="BUY", universal_symbol_id=api.sym("AAPL"), order_type="Market",
        time_in_force="Day", notional_value=95.0, **api.creds).body
    assert notional["filled_quantity"] == "0.5"
    assert api.sim.placed_order_count == 2


def test_ioc_limit_that_cannot_fill_is_canceled(api: SdkApi) -> None:
    order = api.force("AAPL", "BUY", 1.0, order_type="Limit", price=100.0, tif="IOC")
    assert (order["status"], order["canceled_quantity"]) == ("CANCELED", "1")


@pytest.mark.parametrize(("policy", "status"), [("pending", "PENDING"), ("accept", "ACCEPTED"),
                                               ("reject", "REJECTED")])
def test_fill_policies(api: SdkApi, policy: str, status: str) -> None:
    api.sim.fill_policy = policy
    order = api.place(api.impact()["trade"]["id"])
    assert order["status"] == status
    assert api.balance()["cash"] == 100000.0
    api.sim.set_price("AAPL", "1")  # only the auto policy fills on price moves
    assert api.order(order["brokerage_order_id"])["status"] == status


def test_every_status_can_be_forced(api: SdkApi) -> None:
    api.sim.fill_policy = "accept"
    for status in ORDER_STATUSES:
        oid = api.force("AAPL", "BUY", 1.0)["brokerage_order_id"]
        api.sim.set_order_status(oid, status)
        assert api.order(oid)["status"] == status
    assert len(ORDER_STATUSES) == 20
    with pytest.raises(ValueError, match="unknown order status"):
        api.sim.set_order_status(oid, "DONE")


def test_forced_executed_fills_and_forced_expired_closes(api: SdkApi) -> None:
    api.sim.fill_policy = "accept"
    done = api.force("AAPL", "BUY", 2.0)["brokerage_order_id"]
    gone = api.force("AAPL", "BUY", 2.0)["brokerage_order_id"]
    api.sim.set_order_status(done, "EXECUTED")
    api.sim.set_order_status(gone, "EXPIRED")
    assert api.order(done)["filled_quantity"] == "2"
    assert (api.order(gone)["open_quantity"], api.order(gone)["canceled_quantity"]) == ("0", "2")
    assert api.units()["AAPL"] == Decimal("12")


def test_trading_not_allowed_is_403(api: SdkApi) -> None:
    api.sim.set_trading_allowed(api.acct, False)
    assert _error(api.impact).status == 403
    exc = _error(api.force)
    assert (exc.status, exc.body["code"]) == (403, "1103")
    assert api.sim.placed_order_count == 0


def test_duplicate_client_order_id_is_refused(api: SdkApi) -> None:
    cid = str(uuid.uuid4())
    api.force(client_order_id=cid)
    exc = _error(api.force, client_order_id=cid)
    assert (exc.status, exc.body["code"]) == (400, "1017")
    assert api.sim.placed_order_count == 1


def test_commission_is_shown_and_charged_once(api: SdkApi) -> None:
    api.sim.commission = "1.50"
    assert api.impact(units=1.0)["trade_impacts"][0]["estimated_commission"] == 1.5
    oid = api.force("AAPL", "BUY", 2.0, order_type="Limit", price=150.0)["brokerage_order_id"]
    api.sim.fill(oid, 1)
    api.sim.fill(oid, 1)
    assert api.balance()["cash"] == 100000.0 - 2 * 190.0 - 1.5
