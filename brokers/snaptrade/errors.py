"""SnapTrade failures as the module's structured errors.

SnapTrade answers errors in two shapes, `{"detail", "status_code", "code"}` and
`{"default_detail", "default_code"}`; both are read here. A placement gets its own
mapping because there the question is whether an order may exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snaptrade_client import ApiException

from brokers.errors import BrokerRefused, ErrorCode, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.snaptrade.client import TransportError, json_body
from brokers.snaptrade.redact import Redactor

MAX_DETAIL = 500
SIGNATURE_CODE = "1076"
USER_CODE = "1083"

_INSUFFICIENT_FUNDS = re.compile(
    r"insufficient\s+(buying\s+power|funds|cash|balance)|not\s+enough\s+(cash|funds|buying\s+power)", re.I
)
_INSUFFICIENT_POSITION = re.compile(
    r"insufficient\s+(position|shares|units|holdings|quantity)|not\s+enough\s+(shares|units)", re.I
)
_TRADE_GONE = re.compile(r"\btrade\b.*\b(expired?|used|not\s+found|invalid|does\s+not\s+exist|already|unknown)\b", re.I)


@dataclass(frozen=True)
class Failure:
    """What an error answer says, secrets already scrubbed."""

    status: int
    detail: str
    code: str | None
    retry_after: str | None

    def details(self, operation: str) -> dict[str, Any]:
        found = {"operation": operation, "http_status": self.status, "snaptrade_code": self.code,
                 "detail": self.detail, "retry_after": self.retry_after}
        return {k: v for k, v in found.items() if v is not None}


def failure_of(exc: ApiException, redactor: Redactor) -> Failure:
    status = int(exc.status or 0)
    body = json_body(getattr(exc, "body", None))
    detail: Any = None
    code: Any = None
    if isinstance(body, Mapping):
        detail = next((body[k] for k in ("detail", "default_detail", "message", "error") if body.get(k)), None)
        code = body.get("code") or body.get("default_code")
    elif isinstance(body, str) and body.strip():
        detail = body
    text = redactor.text(str(detail or exc.reason or f"HTTP {status}"))[:MAX_DETAIL]
    headers = getattr(exc, "headers", None) or {}
    retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
    return Failure(status, text, None if code is None else redactor.text(str(code))[:40], retry_after)


def _credentials_hint(failure: Failure) -> str:
    detail = failure.detail.lower()
    if failure.code == SIGNATURE_CODE or "signature" in detail:
        return ("SnapTrade could not verify the request signature: check SNAPTRADE_CONSUMER_KEY "
                "(and that SNAPTRADE_BASE_URL has no path after the host)")
    if failure.code == USER_CODE or "user" in detail:
        return "SnapTrade refused the user: check SNAPTRADE_USER_ID and SNAPTRADE_USER_SECRET"
    if "timestamp" in detail:
        return "SnapTrade refused the request time: check this machine's clock"
    if "client" in detail:
        return "SnapTrade refused the client: check SNAPTRADE_CLIENT_ID"
    return f"SnapTrade refused the credentials ({failure.detail}): check the SNAPTRADE_* settings"


def read_error(
    exc: ApiException, redactor: Redactor, operation: str, not_found: ErrorCode = ErrorCode.BROKER_ERROR
) -> TradeError:
    """Any call but a placement: nothing here can leave an order behind."""
    failure = failure_of(exc, redactor)
    details = failure.details(operation)
    status = failure.status
    if status == 400:
        if _INSUFFICIENT_FUNDS.search(failure.detail):
            return TradeError(ErrorCode.INSUFFICIENT_FUNDS, failure.detail, details)
        if _INSUFFICIENT_POSITION.search(failure.detail):
            return TradeError(ErrorCode.INSUFFICIENT_POSITION, failure.detail, details)
        return TradeError(ErrorCode.BROKER_REJECTED, f"SnapTrade refused to {operation}: {failure.detail}", details)
    if status == 401:
        return TradeError(ErrorCode.BROKER_UNAVAILABLE, _credentials_hint(failure), details)
    if status == 402:
        return TradeError(
            ErrorCode.BROKER_UNAVAILABLE,
            f"the brokerage connection is disabled; reconnect it in SnapTrade ({failure.detail})", details,
        )
    if status == 403:
        return TradeError(ErrorCode.BROKER_REJECTED, f"SnapTrade refused to {operation}: {failure.detail}", details)
    if status == 404:
        return TradeError(not_found, f"SnapTrade could not {operation}: {failure.detail}", details)
    if status == 429:
        wait = f"; retry after {failure.retry_after} s" if failure.retry_after else ""
        return TradeError(ErrorCode.BROKER_UNAVAILABLE, f"SnapTrade rate limit reached{wait}", details)
    if status == 408 or status >= 500:
        return TradeError(
            ErrorCode.BROKER_UNAVAILABLE, f"SnapTrade is unavailable (HTTP {status}): {failure.detail}", details
        )
    return TradeError(ErrorCode.BROKER_ERROR, f"SnapTrade could not {operation} (HTTP {status}): {failure.detail}",
                      details)


def read_transport_error(exc: TransportError, operation: str) -> TradeError:
    return TradeError(ErrorCode.BROKER_UNAVAILABLE, f"SnapTrade {operation}: {exc.message}",
                      {"operation": operation, "timed_out": exc.timed_out})


UNKNOWN_HINT = "the order may exist; it is not retried, and reconciliation settles it from the order list"


def placement_error(exc: ApiException, redactor: Redactor) -> TradeError:
    """An HTTP answer to POST /trade/{tradeId}: refused (no order) or unknown (maybe an order)."""
    failure = failure_of(exc, redactor)
    details = failure.details("place order")
    status = failure.status
    if status in (400, 404, 410) and (status != 400 or _TRADE_GONE.search(failure.detail)):
        return NothingSent(
            f"the SnapTrade trade id has expired or was already used ({failure.detail}); preview the trade again",
            details, code=ErrorCode.PREVIEW_EXPIRED,
        )
    if status == 400 and _INSUFFICIENT_FUNDS.search(failure.detail):
        return BrokerRefused(failure.detail, details, code=ErrorCode.INSUFFICIENT_FUNDS)
    if status in (400, 403, 409, 422):
        return BrokerRefused(f"SnapTrade refused the order: {failure.detail}", details)
    if status in (401, 402):
        refused = read_error(exc, redactor, "place order")
        return NothingSent(f"{refused.message}; the order was not placed", details)
    return OrderOutcomeUnknown(f"SnapTrade answered HTTP {status} to the placement: {UNKNOWN_HINT}", details)


def placement_transport_error(exc: TransportError) -> TradeError:
    details = {"operation": "place order", "timed_out": exc.timed_out}
    if not exc.maybe_sent:
        return NothingSent(f"{exc.message}; the order was not sent", details)
    return OrderOutcomeUnknown(f"{exc.message}: {UNKNOWN_HINT}", details)
