"""Message pacing that puts placements first, and background refreshes that coalesce.

IB accepts about 50 API messages per second per client; ib_async 2.1.0 paces every message it
sends through ONE first-in-first-out queue (45 per second). A placement written while that
queue holds read traffic waits behind it: traced at 0.9 s after ~15 quick executes, each
followed by a two-message account-summary refresh. So reads never reach ib_async's queue
unless the last second's traffic leaves `reserve` messages free for orders:

- `PacingBudget.spend` notes an order-path call (placement, cancel): it never waits here.
- `PacingBudget.admit` lets a read through only while the messages sent in the last second, plus
  the declared cost of reads still running and of this one, stay within `per_second - reserve`;
  otherwise the read waits here, in our queue, where no placement is behind it.

The window counts what was actually written (ib_async's message counter); declared costs are upper
bounds (OPERATION_COSTS, checked against the simulator's log) held only while a read runs.
ib_async's own limiter stays on as the backstop.

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
    """Order-path calls (placements, cancels): never delayed here."""
    reads: int = 0
    """Read calls admitted."""
    reads_delayed: int = 0
    """Reads that had to wait for room (here, so that no placement waits behind them in ib_async)."""
    read_delay_seconds: float = 0.0
    ib_async_stalls: int = 0
    """Times ib_async's own queue formed (throttleStart): a placement could have waited in it."""


class PacingBudget:
    """Admission of reads against the messages actually sent in the last second.

    `sent()` is the connection's running count of messages written (ib_async's own counter), sampled
    at every admission: the count one interval ago subtracted from the count now is what the window
    holds (over-counted, never under-counted, when samples are sparse). Reads admitted but still
    running hold their declared cost until `release`, so a burst of reads cannot all pass at once.
    """

    def __init__(
        self, per_second: int, reserve: int = DEFAULT_RESERVE, interval: float = 1.0,
        sent: Callable[[], int] = lambda: 0,
    ) -> None:
        self.per_second = per_second
        self.reserve = min(reserve, max(per_second - 1, 0))
        self.interval = interval
        self.stats = PacingStats()
        self._sent = sent
        self._samples: deque[tuple[float, int]] = deque()
        self._in_flight = 0

    def spend(self) -> None:
        """An order-path call: counted, never delayed."""
        self.stats.orders += 1
        self._window(asyncio.get_running_loop().time())

    async def admit(self, cost: int) -> None:
        """Wait until a read of at most `cost` messages leaves the reserve free; `release(cost)` when done."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        limit = self.per_second - self.reserve
        delayed = False
        while self.per_second > 0 and cost > 0:  # a read from ib_async's cache sends nothing: never held
            used = self._window(loop.time()) + self._in_flight
            if used + cost <= limit or used == 0:
                break
            delayed = True
            await asyncio.sleep(self.interval / 20)
        self.stats.reads += 1
        if delayed:
            self.stats.reads_delayed += 1
            self.stats.read_delay_seconds += loop.time() - started
        self._in_flight += cost

    def release(self, cost: int) -> None:
        self._in_flight = max(self._in_flight - cost, 0)

    def _window(self, now: float) -> int:
        """Messages sent within the last interval (at most: counted from the newest sample that old)."""
        sent = self._sent()
        samples = self._samples
        samples.append((now, sent))
        while len(samples) >= 2 and samples[1][0] <= now - self.interval:
            samples.popleft()
        return max(sent - samples[0][1], 0)


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
