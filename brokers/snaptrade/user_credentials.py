"""SnapTrade user credentials per platform user (issue 14).

SnapTrade authenticates every call as one SnapTrade user (userId + userSecret). A multi-user
platform supplies them per user through a `UserCredentialsProvider`; the default provider
answers every user with the SNAPTRADE_USER_ID / SNAPTRADE_USER_SECRET pair from the settings.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

from brokers.errors import ErrorCode, TradeError


class UserCredentialsProvider(Protocol):
    def credentials_for(self, user_email: str | None) -> tuple[str, SecretStr]:
        """(userId, userSecret) for this platform user (None: no user given); TradeError when unknown."""
        ...


class SettingsUserCredentials:
    """The default: one SnapTrade user for everyone, from the settings."""

    def __init__(self, user_id: str, user_secret: SecretStr) -> None:
        self._pair = (user_id, user_secret)

    def credentials_for(self, user_email: str | None) -> tuple[str, SecretStr]:
        return self._pair


class MappedUserCredentials:
    """A fixed table of platform users; users not in it are refused (never served another user's account)."""

    def __init__(self, users: dict[str, tuple[str, SecretStr]], default: tuple[str, SecretStr] | None = None) -> None:
        self._users = {email.strip().lower(): pair for email, pair in users.items()}
        self._default = default

    def credentials_for(self, user_email: str | None) -> tuple[str, SecretStr]:
        if user_email is None and self._default is not None:
            return self._default
        pair = self._users.get(user_email or "")
        if pair is None:
            raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, "no SnapTrade user is registered for this platform user",
                             {"field": "user_email"})
        return pair
