"""preview_modification / execute_modification on TradeExecutionService (issue 16), mixed in like the contract.

The MCP tools and the CLI parse the arguments at their edge and call the `*_parsed` forms with the
canonical objects; platform code calls the plain names with raw values, parsed here once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from brokers.errors import ErrorCode, TradeError
from brokers.user_context import parse_user_email, scoped_to
from services.modification import ExecutableModification
from services.modification_terms import ModificationTerms, parse_modification_terms
from services.modification_view import ModificationView
from services.queries import parse_order_id
from telemetry.correlation import current_correlation

if TYPE_CHECKING:
    from services.modification import Modifications

T = TypeVar("T")


def parse_modification_id(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise TradeError(ErrorCode.PREVIEW_NOT_FOUND, "modification_id is not a valid modification id",
                         {"modification_id": str(value)[:80],
                          "fix": "Pass the modification_id preview_modification returned, exactly."}) from None


class ModificationApi:
    """Mixed into TradeExecutionService, which provides `modifications` and `_guarded`."""

    modifications: Modifications

    if TYPE_CHECKING:

        @staticmethod
        def _guarded(action: Callable[[], T]) -> T: ...

    def preview_modification(
        self, order_id: Any, quantity: Any = None, limit_price: Any = None, stop_price: Any = None,
        trailing_amount: Any = None, trailing_percent: Any = None, *, user_email: Any = None,
    ) -> ModificationView:
        """Preview a change of a working order; nothing changes until `execute_modification`."""
        parsed_id = self._guarded(lambda: parse_order_id(order_id))
        terms = self._guarded(lambda: parse_modification_terms(
            quantity=quantity, limit_price=limit_price, stop_price=stop_price, trailing_amount=trailing_amount,
            trailing_percent=trailing_percent))
        return self.preview_modification_parsed(parsed_id, terms, user_email=user_email)

    def preview_modification_parsed(self, order_id: uuid.UUID, terms: ModificationTerms, *,
                                    user_email: Any = None) -> ModificationView:
        """With `user_email`, another user's order is ORDER_NOT_FOUND (audited)."""
        user = self._guarded(lambda: parse_user_email(user_email))
        with scoped_to(user):
            return self._guarded(lambda: self.modifications.preview(order_id, terms, current_correlation()))

    def execute_modification(self, modification_id: Any, *, user_email: Any = None) -> ModificationView:
        """Apply a confirmed modification exactly once (a second call is ALREADY_EXECUTED)."""
        parsed = self._guarded(lambda: parse_modification_id(modification_id))
        user = self._guarded(lambda: parse_user_email(user_email))
        with scoped_to(user):
            return self._guarded(lambda: self.modifications.execute(parsed, current_correlation()))

    # --- confirmation support (mcp_tools/modification_tools.py, the CLI) ---
    def executable_modification(self, modification_id: uuid.UUID, *, user_email: Any = None
                                ) -> ExecutableModification:
        user = self._guarded(lambda: parse_user_email(user_email))
        with scoped_to(user):
            return self._guarded(lambda: self.modifications.executable(modification_id))

    def record_modification_refusal(self, modification_id: uuid.UUID, error: TradeError) -> None:
        self.modifications.record_refusal(modification_id, error)

    def record_modification_not_confirmed(self, modification_id: uuid.UUID, answer: str) -> None:
        self.modifications.record_not_confirmed(modification_id, answer)
