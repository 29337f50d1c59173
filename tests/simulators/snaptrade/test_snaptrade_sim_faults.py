"""Injected faults and how the unmodified SDK reacts to them (retries, timeouts, drops)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import urllib3
from snaptrade_client import ApiException

from .conftest import make_client

if TYPE_CHECKING:
    from snaptrade_client import SnapTrade

    from .conftest import SdkApi

RATE_LIMIT = {"status": 429, "headers": {"Retry-After": "0"}}


def _place_with_timeout(api: SdkApi, client: SnapTrade[Any], timeout: float) -> Any:
    """The sync public methods take no timeout: the private *_oapg call does."""
    trading = client.trading
    args = trading._place_force_order_mapped_args(
        account_id=api.acct, action="BUY", universal_symbol_id=api.sym("AAPL"), order_type="Market",
        time_in_force="Day", units=1.0, **api.creds)
    return trading._place_force_order_oapg(body=args.body, query_params=args.query, timeout=timeout)


def _balance_with_timeout(api: SdkApi, client: SnapTrade[Any], timeout: float) -> Any:
    info = client.account_information
    args = info._get_user_account_balance_mapped_args(account_id=api.acct, **api.creds)
    return info._get_user_account_balance_oapg(query_params=args.query, path_params=args.path, timeout=timeout)


def test_429_on_get_is_retried_by_the_sdk(api: SdkApi) -> None:
    for _ in range(3):
        api.sim.inject_fault("GET", r"/balances$", **RATE_LIMIT)
    assert api.balance()["cash"] == 100000.0
    log = api.sim.requests
    assert [(r.status, r.fault) for r in log] == [(429, True)] * 3 + [(200, False)]


def test_429_on_get_surfaces_after_four_attempts(api: SdkApi) -> None:
    api.sim.inject_fault("GET", r"/balances$", count=4, **RATE_LIMIT)
    with pytest.raises(ApiException) as info:
        api.balance()
    assert info.value.status == 429
    assert info.value.headers["Retry-After"] == "0"
    assert info.value.body == {"detail": "Too many requests. Please try again later.", "status_code": 429,
                               "code": "1429"}
    assert len(api.sim.requests) == 4


def test_429_on_post_is_not_retried(api: SdkApi) -> None:
    api.sim.inject_fault("POST", r"^/trade/", count=2, **RATE_LIMIT)
    with pytest.raises(ApiException) as info:
        api.force()
    assert info.value.status == 429
    assert len(api.sim.requests) == 1
    assert api.sim.placed_order_count == 0


@pytest.mark.parametrize("retries", [False, urllib3.Retry(0)])
def test_retries_can_be_switched_off_for_gets(api: SdkApi, retries: Any) -> None:
    client = make_client(api.sim, retries=retries)
    api.sim.inject_fault("GET", r"/balances$", **RATE_LIMIT)
    with pytest.raises(ApiException) as info:
        client.account_information.get_user_account_balance(account_id=api.acct, **api.creds)
    assert info.value.status == 429
    assert len(api.sim.requests) == 1


def test_500_is_an_api_exception_and_not_retried(api: SdkApi) -> None:
    api.sim.inject_fault(path_regex=r"/positions/all$", status=500)
    with pytest.raises(ApiException) as info:
        api.units()
    assert info.value.status == 500
    assert info.value.body["status_code"] == 500
    assert len(api.sim.requests) == 1
    assert "AAPL" in api.units()  # one-shot fault consumed


def test_403_trading_not_allowed_fault(api: SdkApi) -> None:
    api.sim.inject_fault("POST", r"^/trade/", status=403)
    with pytest.raises(ApiException) as info:
        api.force()
    assert info.value.status == 403
    assert info.value.body["code"] == "1103"
    assert api.sim.placed_order_count == 0


def test_custom_body_and_headers(api: SdkApi) -> None:
    api.sim.inject_fault("GET", "/balances", status=503, body={"detail": "Brokerage down", "code": "X"},
                         headers={"X-Sim": "1"})
    with pytest.raises(ApiException) as info:
        api.balance()
    assert (info.value.status, info.value.body, info.value.headers["X-Sim"]) == (
        503, {"detail": "Brokerage down", "code": "X"}, "1")


def test_faults_are_fifo_and_match_method_and_path(api: SdkApi) -> None:
    api.sim.inject_fault("POST", "/balances", status=500)  # never matches a GET
    api.sim.inject_fault("GET", "/balances", status=502)
    api.sim.inject_fault("GET", "/balances", status=500)
    statuses = []
    for _ in range(3):
        try:
            api.balance()
            statuses.append(200)
        except ApiException as exc:
            statuses.append(int(exc.status))
    assert statuses == [502, 500, 200]
    assert [f.method for f in api.sim.pending_faults] == ["POST"]
    api.sim.clear_faults()
    assert api.sim.pending_faults == []


def test_status_none_needs_process_or_drop(api: SdkApi) -> None:
    with pytest.raises(ValueError, match="status=None"):
        api.sim.inject_fault(status=None)


def test_hang_on_post_times_out_without_retry(api: SdkApi) -> None:
    api.sim.inject_fault("POST", "^/trade/place$", hang_seconds=5)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        _place_with_timeout(api, api.client, timeout=0.5)
    assert time.monotonic() - started < 3
    assert len(api.sim.requests) == 1
    assert api.sim.placed_order_count == 0


def test_hang_after_processing_means_the_order_exists(api: SdkApi) -> None:
    """The outcome-unknown case: the client timed out but the broker placed the order."""
    api.sim.inject_fault("POST", "^/trade/place$", status=None, process=True, hang_seconds=5)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        _place_with_timeout(api, api.client, timeout=0.5)
    assert api.sim.placed_order_count == 1
    orders = api.orders()
    assert [o["status"] for o in orders] == ["EXECUTED"]


def test_processed_then_500_is_ambiguous(api: SdkApi) -> None:
    api.sim.inject_fault("POST", "^/trade/place$", status=500, process=True)
    with pytest.raises(ApiException) as info:
        api.force()
    assert info.value.status == 500
    assert api.sim.placed_order_count == 1


def test_hang_on_get_is_retried_and_the_error_leaks_the_secret(api: SdkApi) -> None:
    """SDK quirk: GET read timeouts are retried 3 times, then MaxRetryError names the full URL."""
    api.sim.inject_fault("GET", "/balances$", hang_seconds=5, count=4)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as info:
        _balance_with_timeout(api, api.client, timeout=0.3)
    assert len(api.sim.requests) == 4
    assert "userSecret=demo-secret" in str(info.value)


def test_hang_on_get_with_retries_off_is_one_timeout(api: SdkApi) -> None:
    client = make_client(api.sim, retries=False)
    api.sim.inject_fault("GET", "/balances$", hang_seconds=5)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError) as info:
        _balance_with_timeout(api, client, timeout=0.3)
    assert "demo-secret" not in str(info.value)
    assert len(api.sim.requests) == 1


def test_dropped_post_is_a_protocol_error_not_retried(api: SdkApi) -> None:
    api.sim.inject_fault("POST", "^/trade/place$", drop=True, count=2)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        api.force()
    assert [(r.status, r.fault) for r in api.sim.requests] == [(0, True)]
    assert api.sim.placed_order_count == 0


def test_dropped_get_is_retried(api: SdkApi) -> None:
    api.sim.inject_fault("GET", "/balances$", drop=True)
    assert api.balance()["cash"] == 100000.0
    assert [r.status for r in api.sim.requests] == [0, 200]


def test_stop_releases_a_hanging_request(api: SdkApi) -> None:
    api.sim.inject_fault("GET", "/balances$", hang_seconds=60, count=10)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            make_client(api.sim, retries=False).account_information.get_user_account_balance(
                account_id=api.acct, **api.creds)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    deadline = time.monotonic() + 5
    while not api.sim.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    api.sim.stop()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert time.monotonic() - started < 5
    assert errors and not isinstance(errors[0], ApiException)


def test_async_client_and_its_timeout_kwarg(api: SdkApi) -> None:
    async def scenario() -> tuple[Any, BaseException | None]:
        client = make_client(api.sim)
        ok = await client.account_information.aget_user_account_balance(account_id=api.acct, timeout=5,
                                                                         **api.creds)
        api.sim.inject_fault("GET", "/balances$", hang_seconds=5)
        try:
            await client.account_information.aget_user_account_balance(account_id=api.acct, timeout=0.3,
                                                                        **api.creds)
        except BaseException as exc:
            return ok.body, exc
        return ok.body, None

    body, error = asyncio.run(scenario())
    assert body[0]["cash"] == 100000.0
    assert isinstance(error, asyncio.TimeoutError)


def test_urllib3_retry_warning_logs_the_secret(api: SdkApi, caplog: pytest.LogCaptureFixture) -> None:
    """SDK quirk: urllib3 logs the full URL (userSecret included) when it retries a GET."""
    api.sim.inject_fault("GET", "/balances$", drop=True)
    with caplog.at_level("WARNING", logger="urllib3.connectionpool"):
        api.balance()
    assert "userSecret=demo-secret" in caplog.text


def test_holds_release_requests_sent_together_and_count_them_in_flight(api: SdkApi) -> None:
    """Two balance reads from two threads wait for each other and are counted in flight together; a request
    sent alone waits out its hold and is counted alone."""
    api.sim.clear_requests()
    api.sim.hold(2, r"/balances$")
    readers = [threading.Thread(target=api.balance) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(10)
    assert api.sim.max_in_flight == 2 and not any(r.is_alive() for r in readers)
    api.balance()  # released: the hold is used up
    api.sim.clear_requests()
    assert api.sim.max_in_flight == 0
    api.sim.hold(2, r"/positions/all$", timeout=0.2)
    api.units()
    api.balance()
    assert api.sim.max_in_flight == 1 and [r.status for r in api.sim.requests] == [200, 200]
