"""The simulator's error type and the `code` values it answers with.

The real service's codes are undocumented except for the signature (1076) and
user (1083) failures; the others here are the simulator's own, stable choice.
"""

from __future__ import annotations

from typing import Any

CODE_VALIDATION = "1010"
CODE_INSUFFICIENT_FUNDS = "1011"
CODE_INSUFFICIENT_POSITION = "1012"
CODE_TRADE_EXPIRED = "1013"
CODE_TRADE_USED = "1014"
CODE_TRADE_NOT_FOUND = "1015"
CODE_ORDER_FINAL = "1016"
CODE_DUPLICATE_CLIENT_ORDER_ID = "1017"
CODE_NOT_FOUND = "1020"
CODE_BAD_SIGNATURE = "1076"
CODE_BAD_CLIENT_ID = "1077"
CODE_BAD_TIMESTAMP = "1078"
CODE_BAD_USER = "1083"
CODE_TRADING_NOT_ALLOWED = "1103"
CODE_RATE_LIMITED = "1429"
CODE_INTERNAL = "1500"
CODE_AUTH_DISABLED = "3003"


class ApiError(Exception):
    """An HTTP error answer: status plus the `{"detail","status_code","code"}` body."""

    def __init__(self, status: int, detail: str, code: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.detail, self.code)


def error_body(status: int, detail: str, code: str) -> dict[str, Any]:
    return {"detail": detail, "status_code": status, "code": code}


def bad_request(detail: str, code: str = CODE_VALIDATION) -> ApiError:
    return ApiError(400, detail, code)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail, CODE_NOT_FOUND)
