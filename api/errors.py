"""One error shape over HTTP, `{error_code, message, details}`, with a status that fits each code.

Clients branch on `error_code` (the same stable codes the MCP tools and the Python service use);
the HTTP status only tells generic tooling (proxies, retries, dashboards) what kind of failure it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from brokers.errors import ErrorCode, TradeError
from telemetry.calls import note_failure

log = logging.getLogger(__name__)

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.AMBIGUOUS_ACCOUNT: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.ACCOUNT_NOT_FOUND: 404,
    ErrorCode.SYMBOL_NOT_FOUND: 404,
    ErrorCode.PREVIEW_NOT_FOUND: 404,
    ErrorCode.ORDER_NOT_FOUND: 404,
    ErrorCode.ALREADY_EXECUTED: 409,
    ErrorCode.ORDER_NOT_CANCELABLE: 409,
    ErrorCode.ORDER_NOT_MODIFIABLE: 409,
    ErrorCode.PREVIEW_EXPIRED: 410,
    ErrorCode.RISK_LIMIT: 422,
    ErrorCode.INSUFFICIENT_FUNDS: 422,
    ErrorCode.INSUFFICIENT_POSITION: 422,
    ErrorCode.UNSUPPORTED_ORDER: 422,
    ErrorCode.BROKER_REJECTED: 422,
    ErrorCode.TRADING_DISABLED: 423,
    ErrorCode.CONFIRMATION_DECLINED: 403,
    ErrorCode.NO_MARKET_DATA_PERMISSION: 403,
    ErrorCode.NO_DATA: 404,
    ErrorCode.PACING_VIOLATION: 429,
    ErrorCode.UNSUPPORTED: 501,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.BROKER_UNAVAILABLE: 502,
    ErrorCode.BROKER_ERROR: 502,
    ErrorCode.DATABASE_UNAVAILABLE: 503,
    ErrorCode.SHUTTING_DOWN: 503,
    ErrorCode.ORDER_OUTCOME_UNKNOWN: 504,
}
"""Codes added later without an entry here answer 400: a refusal, never a silent 200."""

HTTP_ONLY_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}
"""Errors of the HTTP layer itself (no such route, wrong method), which no service code describes."""


class ApiError(BaseModel):
    """Every non-2xx answer of the API."""

    error_code: str = Field(description="Stable machine-readable code, e.g. PREVIEW_EXPIRED.")
    message: str = Field(description="Human-readable explanation; never contains a secret or a stack trace.")
    details: dict[str, Any] = Field(default_factory=dict, description="Structured context (ids, problems).")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ApiError} for status in (400, 401, 403, 404, 409, 410, 422, 423, 429, 500, 501, 502, 503, 504)
}


def status_for(code: ErrorCode | str) -> int:
    try:
        return HTTP_STATUS.get(ErrorCode(code), 400)
    except ValueError:
        return 400


def error_response(error: TradeError, redact: Callable[[str], str]) -> Response:
    note_failure(error.code.value)
    body = ApiError.model_validate(error.to_dict()).model_dump_json()
    return _raw_json(redact(body), status_for(error.code))


def _raw_json(text: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """An already-serialized (and redacted) JSON body."""
    return Response(content=text, status_code=status, headers=headers, media_type="application/json")


def validation_problems(exc: RequestValidationError) -> TradeError:
    """Every problem at once, naming the field, never echoing the value that was sent."""
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path")]
        problems.append({"field": ".".join(loc) or "request", "problem": str(err.get("msg", "invalid"))})
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid request: {summary}", {"problems": problems})


def install_error_handlers(app: FastAPI, redact: Callable[[str], str]) -> None:
    """Structured errors for service refusals, bad input, unknown routes and anything unexpected."""

    async def on_trade_error(_request: Request, exc: Exception) -> Response:
        error = exc if isinstance(exc, TradeError) else TradeError(ErrorCode.INTERNAL_ERROR, "unexpected error")
        return error_response(error, redact)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        if not isinstance(exc, RequestValidationError):
            return error_response(TradeError(ErrorCode.VALIDATION_ERROR, "invalid request"), redact)
        return error_response(validation_problems(exc), redact)

    async def on_http(_request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        code = HTTP_ONLY_CODES.get(status, "HTTP_ERROR")
        note_failure(code)
        detail = exc.detail if isinstance(exc, StarletteHTTPException) and isinstance(exc.detail, str) else code
        body = ApiError(error_code=code, message=detail, details={}).model_dump_json()
        headers = getattr(exc, "headers", None)
        return _raw_json(redact(body), status, headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        error = TradeError(ErrorCode.INTERNAL_ERROR, "unexpected internal error; see the server log")
        return error_response(error, redact)

    app.add_exception_handler(TradeError, on_trade_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
