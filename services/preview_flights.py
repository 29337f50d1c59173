"""Concurrent executes of one preview in this process: one goes to the database, the others wait for its answer.

A duplicate storm (a client retrying, several tabs, a batch sent twice) used to send every
caller to the conditional UPDATE, where all but one queued on the preview's row lock and then
each wrote its refusal in a transaction of its own. Here the first caller of a preview (the
leader) runs the intent; callers that arrive while it runs (followers) wait for its answer:

- the leader consumed the preview, or found it already used or expired: that is final (a
  preview never becomes ACTIVE again), so each follower is refused the same way at once;
- the leader was refused by a rule that leaves the preview usable (a check, the database,
  a crash): followers get no answer and each tries on its own, as if it had come first.

Exactly once does not rest on this: across processes, and for a caller that arrives after the
leader finished, the conditional UPDATE and UNIQUE(trade_orders.preview_id) decide as before.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from brokers.errors import TradeError


@dataclass
class Flight:
    """One leader's execute of a preview; `answer` is what its followers are told (None: try yourselves)."""

    leader: bool
    done: threading.Event = field(default_factory=threading.Event)
    answer: TradeError | None = None

    def settle(self, answer: TradeError | None) -> None:
        """The leader's final word for its followers; only the first call counts."""
        if not self.done.is_set():
            self.answer = answer
            self.done.set()


class PreviewFlights:
    def __init__(self, wait_seconds: float) -> None:
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._flights: dict[uuid.UUID, Flight] = {}

    @contextmanager
    def join(self, preview_id: uuid.UUID) -> Iterator[Flight]:
        """Lead the preview's flight, or follow the one in progress (a follower's flight is already settled).

        A leader that leaves without settling (an exception, a crash) settles with no answer, so
        its followers go on their own. A follower that waited longer than `wait_seconds` also does.
        """
        with self._lock:
            leading = self._flights.get(preview_id)
            if leading is None:
                mine = self._flights[preview_id] = Flight(leader=True)
        if leading is not None:
            yield self._follow(leading)
            return
        try:
            yield mine
        finally:
            mine.settle(None)
            with self._lock:
                self._flights.pop(preview_id, None)

    def _follow(self, leading: Flight) -> Flight:
        answered = leading.done.wait(self.wait_seconds)
        follower = Flight(leader=False)
        follower.settle(leading.answer if answered else None)
        return follower
