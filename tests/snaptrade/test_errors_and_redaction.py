"""Error mapping (both SnapTrade error shapes), placement classification, secret scrubbing."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
import urllib3
from pydantic import SecretStr
from snaptrade_client import ApiException
from urllib3._collections import HTTPHeaderDict

from brokers.errors import ErrorCode, OrderOutcomeUnknown, TradeError
from brokers.snaptrade.client import (
    NO_RETRIES,
    SnapTradeApi,
    SnapTradeCredentials,
    TransportError,
    _transport_error,
)
from brokers.snaptrade.errors import (
    failure_of,
    placement_error,
    placement_transport_error,
    read_error,
)
from brokers.snaptrade.redact import Redactor, protect_logs, release_logs
from settings import Settings

SECRET = "us/Secret+value=1"
KEY = "ck-consumer-key"


def api_error(status: int, body: Any, headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.body = body
    exc.headers = HTTPHeaderDict(headers or {})
    return exc


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([SECRET, KEY])


def test_both_error_shapes_are_read(redactor: Redactor) -> None:
    one = failure_of(api_error(400, {"detail": "Bad thing", "status_code": 400, "code": "1010"}), redactor)
    two = failure_of(api_error(403, {"default_detail": "Not allowed", "default_code": "forbidden"}), redactor)
    raw = failure_of(api_error(500, b'{"detail": "boom", "code": "1500"}'), redactor)
    text = failure_of(api_error(502, "<html>bad gateway</html>"), redactor)
    assert (one.detail, one.code) == ("Bad thing", "1010")
    assert (two.detail, two.code) == ("Not allowed", "forbidden")
    assert (raw.detail, raw.code) == ("boom", "1500")
    assert text.detail == "<html>bad gateway</html>" and text.code is None


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"detail": "Insufficient buying power: order needs 10"}, ErrorCode.INSUFFICIENT_FUNDS),
        (400, {"detail": "Insufficient position: cannot sell 5"}, ErrorCode.INSUFFICIENT_POSITION),
        (400, {"detail": "Invalid order"}, ErrorCode.BROKER_REJECTED),
        (401, {"detail": "Unable to verify signature sent", "code": "1076"}, ErrorCode.BROKER_UNAVAILABLE),
        (402, {"detail": "Connection disabled"}, ErrorCode.BROKER_UNAVAILABLE),
        (403, {"default_detail": "Trading not allowed"}, ErrorCode.BROKER_REJECTED),
        (404, {"detail": "Order not found"}, ErrorCode.ORDER_NOT_FOUND),
        (429, {"detail": "Too many requests"}, ErrorCode.BROKER_UNAVAILABLE),
        (503, None, ErrorCode.BROKER_UNAVAILABLE),
        (418, {"detail": "teapot"}, ErrorCode.BROKER_ERROR),
    ],
)
def test_read_errors(redactor: Redactor, status: int, body: Any, code: ErrorCode) -> None:
    error = read_error(api_error(status, body), redactor, "get the order", ErrorCode.ORDER_NOT_FOUND)
    assert error.code is code and error.details["http_status"] == status


def test_credential_errors_say_which_setting_to_check(redactor: Redactor) -> None:
    bad_key = api_error(401, {"detail": "Unable to verify signature sent", "code": "1076"})
    bad_user = api_error(401, {"detail": "Invalid userID or userSecret provided", "code": "1083"})
    signature, user = read_error(bad_key, redactor, "x"), read_error(bad_user, redactor, "x")
    assert "SNAPTRADE_CONSUMER_KEY" in signature.message
    assert "SNAPTRADE_USER_SECRET" in user.message


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        (400, "Trade 1f0e has expired (301 s old)", ErrorCode.PREVIEW_EXPIRED),
        (400, "Trade 1f0e has already been used", ErrorCode.PREVIEW_EXPIRED),
        (400, "Trade 1f0e not found", ErrorCode.PREVIEW_EXPIRED),
        (404, "Not found", ErrorCode.PREVIEW_EXPIRED),
        (400, "Insufficient buying power", ErrorCode.INSUFFICIENT_FUNDS),
        (400, "Insufficient position: cannot sell", ErrorCode.BROKER_REJECTED),
        (403, "Trading is not allowed", ErrorCode.BROKER_REJECTED),
        (401, "Unable to verify signature sent", ErrorCode.BROKER_UNAVAILABLE),
        (408, "Request timeout", ErrorCode.ORDER_OUTCOME_UNKNOWN),
        (429, "Too many requests", ErrorCode.ORDER_OUTCOME_UNKNOWN),
        (500, "Unexpected error", ErrorCode.ORDER_OUTCOME_UNKNOWN),
        (502, "Bad gateway", ErrorCode.ORDER_OUTCOME_UNKNOWN),
        (302, "Found", ErrorCode.ORDER_OUTCOME_UNKNOWN),
    ],
)
def test_placement_errors(redactor: Redactor, status: int, detail: str, expected: ErrorCode) -> None:
    error = placement_error(api_error(status, {"detail": detail}), redactor)
    assert error.code is expected
    assert isinstance(error, OrderOutcomeUnknown) == (expected is ErrorCode.ORDER_OUTCOME_UNKNOWN)


def test_transport_failures_say_whether_the_request_may_have_been_sent() -> None:
    refused = urllib3.exceptions.MaxRetryError(
        None, f"/accounts?userSecret={SECRET}",  # type: ignore[arg-type]
        urllib3.exceptions.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
    )
    timed_out = urllib3.exceptions.ReadTimeoutError(None, f"/trade/x?userSecret={SECRET}", "read timed out")  # type: ignore[arg-type]
    dropped = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())
    not_sent, late, lost = (_transport_error(e, 2.0) for e in (refused, timed_out, dropped))
    assert not not_sent.maybe_sent and late.maybe_sent and late.timed_out and lost.maybe_sent
    assert all(SECRET not in e.message for e in (not_sent, late, lost))
    assert placement_transport_error(not_sent).code is ErrorCode.BROKER_UNAVAILABLE
    assert isinstance(placement_transport_error(late), OrderOutcomeUnknown)
    assert isinstance(placement_transport_error(TransportError("x", maybe_sent=True)), OrderOutcomeUnknown)


def test_redactor_scrubs_raw_encoded_and_named_secrets(redactor: Redactor) -> None:
    text = (f"GET /accounts?userId=u&userSecret=us%2FSecret%2Bvalue%3D1&clientId=C raw={SECRET} "
            f"key={KEY} other userSecret=whatever&x=1")
    clean = redactor.text(text)
    assert SECRET not in clean and "us%2FSecret" not in clean and KEY not in clean and "whatever" not in clean
    assert "userId=u" in clean and "x=1" in clean
    assert redactor.payload({"a": [SECRET, {"b": KEY}], "n": 1.5}) == {"a": ["***", {"b": "***"}], "n": 1.5}


def test_urllib3_log_records_are_scrubbed(redactor: Redactor, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    protect_logs(redactor)
    try:
        logging.getLogger("urllib3.connectionpool").debug('"%s %s" %s', "GET", f"/accounts?userSecret={SECRET}", 200)
    finally:
        release_logs(redactor)
    assert "GET /accounts?userSecret=***" in caplog.text and SECRET not in caplog.text


def test_missing_settings_are_named_and_a_bad_host_is_explained() -> None:
    with pytest.raises(TradeError) as missing:
        SnapTradeCredentials.from_settings(Settings(_env_file=None, SNAPTRADE_CLIENT_ID="C"))
    assert missing.value.code is ErrorCode.BROKER_UNAVAILABLE
    assert "SNAPTRADE_CONSUMER_KEY" in missing.value.message and "SNAPTRADE_USER_SECRET" in missing.value.message
    credentials = SnapTradeCredentials("C", SecretStr(KEY), "u", SecretStr(SECRET), "http://localhost:9999", 1.0)
    with pytest.raises(TradeError) as bad_host:
        SnapTradeApi(credentials)
    assert "SNAPTRADE_BASE_URL" in bad_host.value.message and "127.0.0.1" in bad_host.value.message


def test_the_client_never_retries_and_bounds_every_request() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    credentials = SnapTradeCredentials("C", SecretStr(KEY), "u", SecretStr(SECRET), f"http://127.0.0.1:{port}", 1.5)
    api = SnapTradeApi(credentials)
    pool_kw = api._rest.pool_manager.connection_pool_kw
    assert pool_kw["retries"] is NO_RETRIES and NO_RETRIES.total == 0
    assert api.sdk.account_information.api_client.rest_client is api._rest  # shared by every API group
    with pytest.raises(TransportError) as refused:
        api.call(api.sdk.account_information.list_all_user_accounts)
    assert refused.value.maybe_sent is False and SECRET not in str(refused.value)
