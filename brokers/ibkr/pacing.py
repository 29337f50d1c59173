"""Message pacing that puts placements first, and background refreshes that coalesce.

IB accepts about 50 API messages per second per client; ib_async 2.1.0 paces every message it
sends through ONE first-in-first-out queue (45 per second). A placement written while that
queue holds read traffic waits behind it: traced at 0.9 s after ~15 quick executes, each
followed by a two-message account-summary refresh. So reads never reach ib_async's queue
unless the last second's traffic leaves `reserve` messages free for orders:

- `PacingBudget.spend` records an order-path message (placement, cancel): it never waits here.
- `PacingBudget.admit` lets a read through only while orders + reads in the last second, plus
  the read's own cost, stay within `per_second - reserve`; otherwise the read waits here, in
  our queue, where no placement is behind it.

Costs are upper bounds of what each operation sends (see OPERATION_COSTS and the test that checks
them against the simulator's log); ib_async's own limiter stays on as the backstop.

`Coalescer` runs background work on the connection's loop (no thread per call): at most one run
in flight per key, and requests made during a run fold into one more run after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_RESERVE = 10
"""Messages per second kept free for placements and cancels (of ib_async's 45)."""

OPERATION_COSTS = {
    "read": 4,  # a quote: contract details if not cached, market data type twice on the delayed fallback, snapshot
    "preview": 6,  # a quote plus the whatIf placeOrder and, for a new contract, its details
    "lookup": 3,  # reqAllOpenOrders, reqCompletedOrders, reqExecutions
    "summary_refresh": 2,  # reqAccountSummary + cancelAccountSummary
    "order": 2,  # placeOrder (+ contract details if the conId is not cached) / cancelOrder
}
"""Messages each kind of call may send at most; reads are admitted by these."""


@dataclass
class PacingStats:
    orders: int = 0
    """Order-path messages recorded."""
    reads: int = 0
    """Read messages admitted."""
    reads_delayed: int = 0
    """Reads that waited for room (held here so that no placement waits behind them)."""
    read_delay_seconds: float = 0.0
    ib_async_stalls: int = 0
    """Times ib_async's own queue formed (throttleStart): a placement could have waited in it."""


class PacingBudget:
    """A one-second window of messages sent, shared by orders (never wait) and reads (wait for room)."""

    def __init__(self, per_second: int, reserve: int = DEFAULT_RESERVE, interval: float = 1.0) -> None:
        self.per_second = per_second
        self.reserve = min(reserve, max(per_second - 1, 0))
        self.interval = interval
        self.stats = PacingStats()
        self._sent: deque[tuple[float, int]] = deque()
        self._used = 0

    def spend(self, cost: int) -> None:
        """An order-path call: counted, never delayed."""
        self.stats.orders += cost
        self._record(asyncio.get_running_loop().time(), cost)

    async def admit(self, cost: int) -> None:
        """Wait until a read of `cost` messages leaves the reserve free, then count it."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        limit = self.per_second - self.reserve
        while self.per_second > 0:
            now = loop.time()
            self._expire(now)
            if self._used + cost <= limit or self._used == 0:
                break
            await asyncio.sleep(max(self._sent[0][0] + self.interval - now, 0.001))
        waited = loop.time() - started
        if waited > 0:
            self.stats.reads_delayed += 1
            self.stats.read_delay_seconds += waited
        self.stats.reads += cost
        self._record(loop.time(), cost)

    def _record(self, now: float, cost: int) -> None:
        if self.per_second <= 0:
            return
        self._expire(now)
        self._sent.append((now, cost))
        self._used += cost

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0][0] >= self.interval:
            self._used -= self._sent.popleft()[1]


class Coalescer:
    """Background jobs by key, on the running loop: one in flight per key, later requests coalesce."""

    def __init__(self) -> None:
        self._waiting: dict[str, Callable[[], Awaitable[None]]] = {}
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.requested = 0
        self.runs = 0

    @property
    def idle(self) -> bool:
        return not self._running

    def request(self, key: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` soon (loop thread only); if a run for `key` is in flight, once more after it."""
        self.requested += 1
        self._waiting[key] = job
        if key not in self._running:
            self._running.add(key)
            task = asyncio.ensure_future(self._drain(key))
            self._tasks.add(task)  # a reference, so the task is not collected mid-run
            task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: str) -> None:
        try:
            while (job := self._waiting.pop(key, None)) is not None:
                self.runs += 1
                try:
                    await job()
                except Exception as exc:  # background work: report, never raise into the loop
                    log.warning("IBKR background %s failed: %s", key, exc)
        finally:
            self._running.discard(key)
