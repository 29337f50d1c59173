"""Authentication: the SDK's signature, clientId, timestamp and user checks."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from snaptrade_client import ApiException
from snaptrade_client.request_after_hook import compute_request_signature

from simulators.snaptrade import SnapTradeSimulator, compute_signature

from .conftest import make_client, raw_request

if TYPE_CHECKING:
    from .conftest import SdkApi


def test_status_check_is_unsigned(sim: SnapTradeSimulator) -> None:
    body = make_client(sim).api_status.check().body
    assert body["online"] is True
    with urllib.request.urlopen(sim.base_url + "/", timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(response.read())["online"] is True


def test_signed_request_accepted_and_secret_redacted_in_log(api: SdkApi) -> None:
    accounts = api.client.account_information.list_user_accounts(**api.creds).body
    assert {a["id"] for a in accounts} == {api.acct, api.paper}
    entry = api.sim.requests[-1]
    assert (entry.method, entry.path, entry.status) == ("GET", "/accounts", 200)
    assert entry["query"]["userId"] == "demo-user"
    assert entry.query["userSecret"] == "***"
    assert entry.query["clientId"] == "TRADEEXEC-TEST"


def test_wrong_consumer_key_is_rejected_1076(sim: SnapTradeSimulator, demo: dict[str, Any]) -> None:
    client = make_client(sim, consumer_key="not-the-key")
    with pytest.raises(ApiException) as info:
        client.account_information.list_user_accounts(user_id=demo["user_id"], user_secret=demo["user_secret"])
    assert info.value.status == 401
    assert info.value.body == {"detail": "Unable to verify signature sent", "status_code": 401, "code": "1076"}


def test_wrong_client_id_is_rejected(sim: SnapTradeSimulator, demo: dict[str, Any]) -> None:
    client = make_client(sim, client_id="SOMEONE-ELSE")
    with pytest.raises(ApiException) as info:
        client.account_information.list_user_accounts(user_id=demo["user_id"], user_secret=demo["user_secret"])
    assert info.value.status == 401
    assert info.value.body["code"] == "1077"


@pytest.mark.parametrize(("user_id", "user_secret"), [("demo-user", "wrong"), ("nobody", "demo-secret")])
def test_unknown_user_or_wrong_secret_is_1083(api: SdkApi, user_id: str, user_secret: str) -> None:
    with pytest.raises(ApiException) as info:
        api.client.account_information.list_user_accounts(user_id=user_id, user_secret=user_secret)
    assert info.value.status == 401
    assert info.value.body["code"] == "1083"
    assert user_secret not in json.dumps(info.value.body)


def test_signature_check_can_be_switched_off(sim: SnapTradeSimulator, demo: dict[str, Any]) -> None:
    sim.check_signatures = False
    client = make_client(sim, consumer_key="not-the-key")
    accounts = client.account_information.list_user_accounts(
        user_id=demo["user_id"], user_secret=demo["user_secret"]
    ).body
    assert len(accounts) == 2


@pytest.mark.parametrize("content", [None, {}, {"substring": "Société ✓"}, {"units": 10.0, "price": 1.5}])
def test_signature_formula_matches_the_sdk(content: Any) -> None:
    path, query = "/accounts/x/symbols", "userId=u&userSecret=s&clientId=C&timestamp=1"
    sdk = compute_request_signature(f"{path}?{query}", "key", content)
    assert compute_signature("key", path, query, content) == sdk


def test_non_ascii_body_is_verified(api: SdkApi) -> None:
    api.sim.add_symbol("SGO", "10", "Société Générale", exchange="NYSE")
    found = api.client.reference_data.symbol_search_user_account(
        account_id=api.acct, substring="Société", **api.creds
    ).body
    assert [s["symbol"] for s in found] == ["SGO"]


def test_raw_request_signed_like_the_sdk_is_accepted(api: SdkApi) -> None:
    status, body = raw_request(api.sim, "GET", f"/accounts/{api.acct}/orders", [("state", "all"), ("days", "7")])
    assert (status, body) == (200, [])


def test_tampered_body_is_rejected(api: SdkApi) -> None:
    status, body = raw_request(
        api.sim, "POST", f"/accounts/{api.acct}/trading/cancel",
        body={"brokerage_order_id": "B"}, signed_body={"brokerage_order_id": "A"},
    )
    assert (status, body["code"]) == (401, "1076")


def test_stale_timestamp_rejected_unless_check_is_off(api: SdkApi) -> None:
    stale = int(time.time()) - 1000
    status, body = raw_request(api.sim, "GET", "/accounts", timestamp=stale)
    assert (status, body["code"]) == (401, "1078")
    api.sim.check_timestamp = False
    status, _ = raw_request(api.sim, "GET", "/accounts", timestamp=stale)
    assert status == 200


def test_advancing_the_trade_clock_does_not_break_auth(api: SdkApi) -> None:
    api.sim.advance_clock(3 * 3600)
    assert api.balance()["cash"] == 100000.0


def test_unknown_endpoint_is_404_json(api: SdkApi) -> None:
    status, body = raw_request(api.sim, "GET", "/no/such/thing")
    assert status == 404
    assert body["status_code"] == 404


def test_invalid_json_body_is_400(api: SdkApi) -> None:
    request = urllib.request.Request(
        f"{api.sim.base_url}/trade/place?userId=demo-user", data=b"{not json", method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400
    assert json.loads(info.value.read())["detail"] == "Request body is not valid JSON"
    assert api.sim.placed_order_count == 0
