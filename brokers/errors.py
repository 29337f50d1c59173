"""Structured errors shared by adapters, the service and the tools.

One exception type with a stable code lets every caller (MCP client, platform code,
CLI) branch on the code instead of parsing messages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    ACCOUNT_NOT_FOUND = "ACCOUNT_NOT_FOUND"
    AMBIGUOUS_ACCOUNT = "AMBIGUOUS_ACCOUNT"
    SYMBOL_NOT_FOUND = "SYMBOL_NOT_FOUND"
    PREVIEW_NOT_FOUND = "PREVIEW_NOT_FOUND"
    PREVIEW_EXPIRED = "PREVIEW_EXPIRED"
    ALREADY_EXECUTED = "ALREADY_EXECUTED"
    TRADING_DISABLED = "TRADING_DISABLED"
    RISK_LIMIT = "RISK_LIMIT"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INSUFFICIENT_POSITION = "INSUFFICIENT_POSITION"
    UNSUPPORTED_ORDER = "UNSUPPORTED_ORDER"
    BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"
    BROKER_REJECTED = "BROKER_REJECTED"
    BROKER_ERROR = "BROKER_ERROR"
    ORDER_OUTCOME_UNKNOWN = "ORDER_OUTCOME_UNKNOWN"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_NOT_CANCELABLE = "ORDER_NOT_CANCELABLE"
    ORDER_NOT_MODIFIABLE = "ORDER_NOT_MODIFIABLE"
    """The order cannot be changed now (filled, canceled, not yet acknowledged, placed by another client)."""
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    UNAUTHORIZED = "UNAUTHORIZED"
    CONFIRMATION_DECLINED = "CONFIRMATION_DECLINED"
    """The human declined or dismissed the confirmation prompt: nothing was placed."""
    UNSUPPORTED = "UNSUPPORTED"
    """The broker (or its API) does not offer this read; the capability says so."""
    NO_MARKET_DATA_PERMISSION = "NO_MARKET_DATA_PERMISSION"
    NO_DATA = "NO_DATA"
    PACING_VIOLATION = "PACING_VIOLATION"
    """The broker throttled a data request; details.retry_after_seconds says how long to wait."""
    SHUTTING_DOWN = "SHUTTING_DOWN"
    """The process was told to stop (SIGTERM) and takes no new calls; nothing was done. Retry on another
    instance, or once it is back."""
    INTERNAL_ERROR = "INTERNAL_ERROR"


class TradeError(Exception):
    """A refusal or failure that callers are expected to handle by its code."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error_code": self.code.value, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"TradeError({self.code.value}, {self.message!r})"


class BrokerRefused(TradeError):
    """Placement outcome 1 of 3: the broker answered and refused the order. Final: the row is REJECTED.

    The code says why (BROKER_REJECTED by default, or e.g. INSUFFICIENT_FUNDS).
    """

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, *, code: ErrorCode = ErrorCode.BROKER_REJECTED
    ) -> None:
        super().__init__(code, message, details)


class NothingSent(TradeError):
    """Placement outcome 2 of 3: nothing reached the broker, so no order can exist. Final: the row is FAILED.

    The code says why (BROKER_UNAVAILABLE by default, or e.g. TRADING_DISABLED, PREVIEW_EXPIRED).
    """

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, *, code: ErrorCode = ErrorCode.BROKER_UNAVAILABLE
    ) -> None:
        super().__init__(code, message, details)

    @classmethod
    def of(cls, error: TradeError) -> NothingSent:
        """The same code, message and details, typed as 'nothing was sent'."""
        return cls(error.message, error.details, code=error.code)


class OrderOutcomeUnknown(TradeError):
    """Placement outcome 3 of 3: the placement was (or may have been) sent but no answer came back.

    The order may exist at the broker, so it must never be retried blindly; the
    execute protocol records UNKNOWN and reconciliation settles it.
    """

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(ErrorCode.ORDER_OUTCOME_UNKNOWN, message, details)
