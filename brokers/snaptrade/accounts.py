"""The user's SnapTrade accounts, cached briefly.

The router asks every adapter `owns_account` on each call, so the answer must not
cost a request each time. Ids that are not UUIDs (IBKR's) are answered without asking;
an unknown UUID reloads the list, but at most every few seconds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from brokers.records import BrokerAccount
from brokers.snaptrade.parsing import account, items

ACCOUNT_KINDS = frozenset({"investment"})


@dataclass(frozen=True)
class AccountEntry:
    account: BrokerAccount
    connection_id: str | None


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def entries(body: Any) -> dict[str, AccountEntry]:
    """GET /accounts/all, investment accounts only (deposit or credit accounts cannot trade)."""
    out: dict[str, AccountEntry] = {}
    for item in items(body, "results"):
        if str(item.get("kind") or "investment") not in ACCOUNT_KINDS or not item.get("id"):
            continue
        connection = item.get("connection_id") or item.get("brokerage_authorization")
        found = account(item)
        out[found.account_id] = AccountEntry(found, str(connection) if connection else None)
    return out


class AccountDirectory:
    def __init__(
        self,
        load: Callable[[], Mapping[str, AccountEntry]],
        ttl_seconds: float = 60.0,
        miss_reload_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._miss_reload = miss_reload_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: Mapping[str, AccountEntry] = {}
        self._loaded_at: float | None = None

    def _age(self) -> float:
        return float("inf") if self._loaded_at is None else self._clock() - self._loaded_at

    def all(self, *, fresh: bool = False) -> Mapping[str, AccountEntry]:
        with self._lock:
            if fresh or self._age() > self._ttl:
                self._entries = dict(self._load())
                self._loaded_at = self._clock()
            return self._entries

    def get(self, account_id: str) -> AccountEntry | None:
        if not is_uuid(account_id):
            return None
        found = self.all().get(account_id)
        if found is None and self._age() > self._miss_reload:
            found = self.all(fresh=True).get(account_id)
        return found


class AccountDirectories:
    """One `AccountDirectory` per SnapTrade user: each user's accounts are cached apart, never shared.

    `user_key` names the SnapTrade user the current call acts for (from the credentials provider);
    `load` lists that same user's accounts, since both run inside the same call.
    """

    def __init__(
        self,
        user_key: Callable[[], str],
        load: Callable[[], Mapping[str, AccountEntry]],
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user_key = user_key
        self._load = load
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._by_user: dict[str, AccountDirectory] = {}

    def current(self) -> AccountDirectory:
        key = self._user_key()
        with self._lock:
            found = self._by_user.get(key)
            if found is None:
                found = self._by_user[key] = AccountDirectory(self._load, self._ttl, clock=self._clock)
            return found
