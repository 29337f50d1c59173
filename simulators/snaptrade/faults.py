"""Injected faults (a FIFO queue) and the request log kept for test assertions."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import (
    CODE_BAD_SIGNATURE,
    CODE_INTERNAL,
    CODE_RATE_LIMITED,
    CODE_TRADING_NOT_ALLOWED,
    error_body,
)

_DEFAULT_DETAILS = {
    401: ("Unable to verify signature sent", CODE_BAD_SIGNATURE),
    403: ("Trading is not allowed for this account", CODE_TRADING_NOT_ALLOWED),
    429: ("Too many requests. Please try again later.", CODE_RATE_LIMITED),
    500: ("Unexpected error", CODE_INTERNAL),
    502: ("Bad gateway", CODE_INTERNAL),
    503: ("Brokerage is temporarily unavailable", CODE_INTERNAL),
}


def default_fault_body(status: int) -> dict[str, Any]:
    detail, code = _DEFAULT_DETAILS.get(status, (f"Simulated error {status}", CODE_INTERNAL))
    return error_body(status, detail, code)


@dataclass
class Fault:
    """One injected fault.

    status: the answer's HTTP status; None means "the real answer" (with process=True).
    hang_seconds: sleep this long before answering (or dropping).
    drop: close the connection without any answer.
    process: handle the request for real first (state changes happen), then hang/answer/drop.
    remaining: how many more requests this fault will hit.
    """

    method: str | None
    path_regex: str
    status: int | None
    body: Any
    headers: dict[str, str]
    remaining: int
    hang_seconds: float | None = None
    drop: bool = False
    process: bool = False
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path_regex)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and bool(self._pattern.search(path))


class FaultQueue:
    """First matching fault wins and uses up one of its `remaining` hits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        if fault.status is None and not (fault.process or fault.drop):
            raise ValueError("status=None needs process=True (real answer) or drop=True")
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    fault.hits += 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return [replace(f) for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass
class LoggedRequest:
    """A request as the simulator saw it; userSecret is redacted from `query`.

    status is None while the request is in flight and 0 when the connection was dropped.
    Readable as attributes or as `entry["path"]`.
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any
    received_at: float
    status: int | None = None
    fault: bool = False

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests received and not yet answered at one time (since the last clear)."""

    def record(self, method: str, path: str, query: dict[str, str], body: Any) -> LoggedRequest:
        safe_query = {k: ("***" if k == "userSecret" else v) for k, v in query.items()}
        entry = LoggedRequest(method, path, safe_query, body, time.time())
        with self._lock:
            self._entries.append(entry)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return entry

    def finish(self, entry: LoggedRequest, status: int, fault: bool) -> None:
        with self._lock:
            entry.status = status
            entry.fault = fault
            self.in_flight -= 1

    def snapshot(self) -> list[LoggedRequest]:
        with self._lock:
            return [replace(e, query=dict(e.query)) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.max_in_flight = self.in_flight


@dataclass
class _Hold:
    method: str | None
    pattern: re.Pattern[str]
    count: int
    timeout: float
    waiting: int = 0


class Holds:
    """Requests held back until `count` of them wait at once, then all answered: a test sees by count, not by
    timing, which requests a client sends together. One sent alone waits out the timeout and goes on."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._holds: list[_Hold] = []

    def add(self, method: str | None, path_regex: str, count: int, timeout: float) -> None:
        with self._changed:
            self._holds.append(_Hold(method, re.compile(path_regex), count, timeout))

    def wait(self, method: str, path: str) -> None:
        with self._changed:
            hold = next((h for h in self._holds if (h.method is None or h.method.upper() == method)
                         and h.pattern.search(path)), None)
            if hold is None:
                return
            hold.waiting += 1
            if hold.waiting >= hold.count:
                self._holds.remove(hold)  # released: later requests pass
                self._changed.notify_all()
                return
            if not self._changed.wait_for(lambda: hold not in self._holds, hold.timeout):
                hold.waiting -= 1
