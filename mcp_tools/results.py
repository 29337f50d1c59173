"""Tool results: JSON objects on success, `{error_code, message, details}` tool errors on failure.

Everything that leaves a tool passes through `ok` or `failure`, so one place decides that no
stack trace and no configured secret can reach the LLM.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from mcp_types import CallToolResult, TextContent

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderStatus
from services.results import OrderView

log = logging.getLogger(__name__)

REDACTED = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values would redact ordinary words; secrets that short are refused elsewhere anyway."""


class Redactor:
    """Replaces known secret values (credentials, tokens, the database password) wherever they appear."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _dump(payload: dict[str, Any], redact: Redactor) -> tuple[str, dict[str, Any]]:
    text = redact(json.dumps(payload, default=str, ensure_ascii=False))
    return text, json.loads(text)


def ok(payload: dict[str, Any], redact: Redactor) -> CallToolResult:
    text, data = _dump(payload, redact)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


FIXES: dict[ErrorCode, str] = {
    ErrorCode.ACCOUNT_NOT_FOUND: "Call list_tradeable_accounts and pass an account_id exactly as it returns (not an "
                                 "account name or number).",
    ErrorCode.SYMBOL_NOT_FOUND: "Call search_symbol (a ticker or the company name) to find the exact symbol.",
    ErrorCode.PREVIEW_NOT_FOUND: "The id is well-formed but unknown (a malformed one is a VALIDATION_ERROR): call "
                                 "preview_trade and pass the preview_id it returns, exactly as returned.",
    ErrorCode.PREVIEW_EXPIRED: "Call preview_trade again, show the new summary to the human and ask again.",
    ErrorCode.ORDER_NOT_FOUND: "Call get_orders to find the order_id, and pass it exactly as returned.",
}
"""How to fix the call, for the errors a model can fix itself."""


def failure(error: TradeError, redact: Redactor) -> CallToolResult:
    fix = FIXES.get(error.code)
    if fix is not None and "fix" not in error.details:
        said = error.message.rstrip(".")
        message = error.message if fix in error.message else f"{said}{' ' if said.endswith(('?', '!')) else '. '}{fix}"
        error = TradeError(error.code, message, {**error.details, "fix": fix})
    text, data = _dump(error.to_dict(), redact)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data, is_error=True)


def validation_error(message: str, **details: Any) -> TradeError:
    return TradeError(ErrorCode.VALIDATION_ERROR, message, details)


def internal_error(tool: str, exc: BaseException) -> TradeError:
    """An unexpected exception: logged in full on the server, a generic message for the client."""
    log.error("tool %s failed unexpectedly", tool, exc_info=exc)
    return TradeError(ErrorCode.INTERNAL_ERROR, "unexpected internal error; see the server log", {"tool": tool})


def order_payload(view: OrderView) -> dict[str, Any]:
    payload = view.as_json()
    status = view.status
    simulated = status == OrderStatus.SIMULATED
    payload["simulated"] = simulated
    payload["placed"] = not simulated
    if view.new_preview is not None or (status == OrderStatus.EXPIRED and view.brokerage_order_id is None):
        payload["placed"] = False  # an expired preview: nothing placed, new_preview re-quotes it
    elif view.source == "brokerage":
        payload["placed"] = False  # placed outside this module
    elif simulated:
        payload["message"] = ("SIMULATED: ORDERS_ENABLED is false, so the order was recorded but NOT sent to the "
                              "broker. Nothing was bought or sold.")
    elif status == OrderStatus.UNKNOWN:
        payload["message"] = ("The broker did not confirm in time: the order MAY have been placed. Do not execute "
                              "again; check get_order_status(order_id) shortly.")
    elif view.message is None:
        payload["message"] = f"Order sent to {view.broker_provider}; status {status}."
    return payload
