"""Which platform user a call acts for (the platform is multi-user; issue 14).

The service sets it for the duration of one call; adapters whose credentials are per user
(SnapTrade) read it, and the service stores it on the preview and order rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from brokers.errors import ErrorCode, TradeError

MAX_EMAIL_LENGTH = 254
_current: ContextVar[str | None] = ContextVar("tradeexec_user_email", default=None)


def current_user_email() -> str | None:
    return _current.get()


@contextmanager
def acting_for(user_email: str | None) -> Iterator[None]:
    token = _current.set(user_email)
    try:
        yield
    finally:
        _current.reset(token)


def parse_user_email(value: Any) -> str | None:
    """None, or the address in canonical form (trimmed, lower case)."""
    if value is None:
        return None
    text = value.strip().lower() if isinstance(value, str) else ""
    local, _, domain = text.partition("@")
    if not local or "." not in domain or len(text) > MAX_EMAIL_LENGTH or any(c.isspace() for c in text):
        raise TradeError(ErrorCode.VALIDATION_ERROR, "user_email must be an email address",
                         {"field": "user_email"})
    return text


@contextmanager
def scoped_to(user_email: str | None) -> Iterator[None]:
    """Act for this user when one is given; with None, keep whoever the caller already acts for."""
    if user_email is None:
        yield
        return
    with acting_for(user_email):
        yield


def belongs_to_another(owner: str | None, user: str | None) -> bool:
    """A row is another user's when a user is given and the row records a different one (no user: no check)."""
    return user is not None and owner is not None and owner != user
