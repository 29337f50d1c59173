"""The SnapTrade SDK client, built the 13.x way, with no automatic retries and a timeout
on every request.

The SDK's sync methods pass no timeout to urllib3, and urllib3's default Retry re-sends
GETs after sleeping for whatever Retry-After says (and logs the signed URL, user secret
included, while doing so). So the client gets its own REST object: every request is
bounded, nothing is re-sent, and transport failures come back as `TransportError`
saying whether the request may have reached SnapTrade.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import urllib3
from pydantic import SecretStr
from snaptrade_client import ApiException, Configuration, SnapTrade, SnapTradeAuth
from snaptrade_client.exceptions import ClientConfigurationError
from snaptrade_client.rest import ResponseWrapper, RESTClientObject
from snaptrade_client.schemas import Unset

from brokers.errors import ErrorCode, TradeError
from brokers.snaptrade.redact import Redactor
from brokers.snaptrade.user_credentials import SettingsUserCredentials, UserCredentialsProvider
from brokers.user_context import current_user_email
from settings import Settings

DEFAULT_BASE_URL = "https://api.snaptrade.com"

NO_RETRIES = urllib3.Retry(
    total=0, connect=0, read=0, redirect=0, status=0, other=0,
    raise_on_status=False, raise_on_redirect=False, respect_retry_after_header=False,
)
"""An error or a 429/5xx/3xx answer goes straight back to the adapter, which decides."""


@dataclass(frozen=True)
class SnapTradeCredentials:
    client_id: str
    consumer_key: SecretStr
    user_id: str
    user_secret: SecretStr
    base_url: str = DEFAULT_BASE_URL
    timeout_seconds: float = 15.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SnapTradeCredentials:
        values = {
            "SNAPTRADE_CLIENT_ID": settings.snaptrade_client_id,
            "SNAPTRADE_CONSUMER_KEY": settings.snaptrade_consumer_key,
            "SNAPTRADE_USER_ID": settings.snaptrade_user_id,
            "SNAPTRADE_USER_SECRET": settings.snaptrade_user_secret,
        }
        missing = [name for name, value in values.items() if not _present(value)]
        if missing:
            raise TradeError(
                ErrorCode.BROKER_UNAVAILABLE,
                f"SnapTrade is not configured: set {', '.join(missing)}",
                {"missing": missing},
            )
        return cls(
            client_id=str(settings.snaptrade_client_id),
            consumer_key=cast(SecretStr, settings.snaptrade_consumer_key),
            user_id=str(settings.snaptrade_user_id),
            user_secret=cast(SecretStr, settings.snaptrade_user_secret),
            base_url=settings.snaptrade_base_url or DEFAULT_BASE_URL,
            timeout_seconds=settings.snaptrade_timeout_seconds,
        )

    def redactor(self) -> Redactor:
        return Redactor([self.user_secret.get_secret_value(), self.consumer_key.get_secret_value()])


def _present(value: str | SecretStr | None) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value().strip())
    return bool(value and value.strip())


class TransportError(Exception):
    """No HTTP answer. `maybe_sent` is False only when the connection was never made."""

    def __init__(self, message: str, *, maybe_sent: bool, timed_out: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_sent = maybe_sent
        self.timed_out = timed_out


def _transport_error(exc: Exception, timeout_seconds: float) -> TransportError:
    """Classify a urllib3 error without keeping its text (it holds the signed URL)."""
    root: BaseException = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        root = exc.reason
    if isinstance(root, urllib3.exceptions.ConnectTimeoutError):  # includes NewConnectionError
        return TransportError(
            f"could not connect to SnapTrade ({type(root).__name__})", maybe_sent=False,
            timed_out=not isinstance(root, urllib3.exceptions.NewConnectionError),
        )
    if isinstance(root, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return TransportError(f"no answer from SnapTrade within {timeout_seconds:g} s", maybe_sent=True, timed_out=True)
    return TransportError(f"the connection to SnapTrade failed ({type(root).__name__})", maybe_sent=True)


class _BoundedRESTClient(RESTClientObject):
    """The SDK's REST object with a default timeout and a per-thread count of requests sent."""

    def __init__(self, configuration: Configuration[Any], timeout_seconds: float) -> None:
        super().__init__(configuration)
        self._timeout_seconds = timeout_seconds  # the SDK turns a float into urllib3.Timeout(total=...)
        self._local = threading.local()

    def started(self) -> int:
        return int(getattr(self._local, "started", 0))

    def request(
        self,
        method: str,
        url: str,
        headers: Any = None,
        fields: Any = None,
        body: Any = None,
        stream: bool = False,
        timeout: Any = None,
    ) -> ResponseWrapper:
        self._local.started = self.started() + 1
        try:
            return super().request(
                method, url, headers=headers, fields=fields, body=body, stream=stream,
                timeout=timeout or self._timeout_seconds,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise _transport_error(exc, self._timeout_seconds) from None
        except ApiException as exc:  # the SDK wraps TLS errors as status 0, URL in the reason
            if exc.status:
                raise
            raise TransportError("TLS failure talking to SnapTrade", maybe_sent=True) from None
        except OSError as exc:  # normally wrapped by urllib3; a raw one is treated as maybe sent
            raise _transport_error(exc, self._timeout_seconds) from None


class SnapTradeApi:
    """The SDK plus the user's credentials: the one place that calls SnapTrade."""

    def __init__(
        self, credentials: SnapTradeCredentials, user_credentials: UserCredentialsProvider | None = None
    ) -> None:
        auth = SnapTradeAuth.commercial_api_key(
            consumer_key=credentials.consumer_key.get_secret_value(), client_id=credentials.client_id
        )
        try:
            configuration = Configuration(host=credentials.base_url, auth=auth)
        except ClientConfigurationError as exc:
            reason = getattr(exc, "reason", "not a valid host")
            raise TradeError(
                ErrorCode.BROKER_UNAVAILABLE,
                f"SNAPTRADE_BASE_URL is not accepted by the SnapTrade SDK: {reason} "
                "(use http(s)://host[:port], and 127.0.0.1 rather than localhost)",
            ) from None
        configuration.retries = NO_RETRIES  # type: ignore[assignment]  # the SDK types it as None
        self.sdk: SnapTrade[Any] = SnapTrade(configuration, auth=None)  # auth already in the configuration
        self._rest = _BoundedRESTClient(configuration, credentials.timeout_seconds)
        self.sdk.trading.api_client.rest_client = self._rest  # every API group shares this ApiClient
        self._users = user_credentials or SettingsUserCredentials(credentials.user_id, credentials.user_secret)

    def user_key(self) -> str:
        """The SnapTrade user id the current call acts for (per platform user; see user_credentials)."""
        return self._users.credentials_for(current_user_email())[0]

    def call(self, operation: Callable[..., Any], **arguments: Any) -> Any:
        """Run one SDK operation as the SnapTrade user of the platform user this call acts for."""
        user_id, user_secret = self._users.credentials_for(current_user_email())
        response = operation(**arguments, user_id=user_id, user_secret=user_secret.get_secret_value())
        return json_body(response.body)

    def requests_started(self) -> int:
        """Requests this thread has handed to urllib3 so far: unchanged means nothing was sent."""
        return self._rest.started()

    def close(self) -> None:
        self._rest.pool_manager.clear()


def json_body(body: Any) -> Any:
    """The SDK returns str/bytes when Content-Type is not JSON and `unset` for no body."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    if isinstance(body, Unset):
        return None
    return body
