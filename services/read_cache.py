"""A few seconds of memory for slow or rate-limited broker reads, partitioned by account.

Every entry is keyed by the account first, so one account's figures can never answer another
account's request. Errors are not cached: the next call asks the broker again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ReadCache:
    def __init__(self, ttl_seconds: float, *, max_entries: int = 512,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, Hashable], tuple[float, Any]] = OrderedDict()

    def peek(self, account_id: str, key: Hashable) -> Any | None:
        """The cached value if still fresh, else None."""
        if self.ttl_seconds <= 0:
            return None
        with self._lock:
            found = self._entries.get((account_id, key))
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._entries[(account_id, key)]
                return None
            return found[1]

    def put(self, account_id: str, key: Hashable, value: Any) -> None:
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            self._entries[(account_id, key)] = (self._clock() + self.ttl_seconds, value)
            self._entries.move_to_end((account_id, key))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_load(self, account_id: str, key: Hashable, load: Callable[[], T]) -> T:
        cached = self.peek(account_id, key)
        if cached is not None:
            return cached
        value = load()
        self.put(account_id, key, value)
        return value
