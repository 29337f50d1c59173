"""Threads for SnapTrade reads that do not wait for each other.

The SDK is synchronous, so a preview's quote, balances and positions can only be in flight while its order
impact is if other threads send them. Each read runs in a copy of the caller's context, so it acts for the
same platform user (brokers/user_context.py) and carries the same correlation. Reads never submit reads,
so a full pool queues work and never deadlocks.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from functools import partial
from typing import Any, ParamSpec, TypeVar

from brokers.errors import ErrorCode, TradeError

P = ParamSpec("P")
T = TypeVar("T")

READ_WORKERS = 8
"""Three reads per preview: a few previews at once before reads queue; under urllib3's pool of 10 per host."""


class ReadPool:
    def __init__(self, workers: int = READ_WORKERS) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="snaptrade-read")

    def start(self, read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Send `read` now, on a pool thread, as the calling user."""
        context = contextvars.copy_context()  # one copy per read: a context runs in one thread at a time
        try:
            return self._executor.submit(context.run, partial(read, *args, **kwargs))
        except RuntimeError:  # shut down: the adapter was closed
            raise _closed() from None

    def close(self) -> None:
        """Reads not started are dropped; those in flight end within the request timeout."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def answer(read: Future[T]) -> T:
    """The read's answer, or its error; a read that close() dropped before sending it is BROKER_UNAVAILABLE."""
    try:
        return read.result()
    except CancelledError:
        raise _closed() from None


def discard(*reads: Future[Any]) -> None:
    """Reads whose answers are no longer wanted: those not yet sent never are; the others are ignored."""
    for read in reads:
        read.cancel()


def _closed() -> TradeError:
    return TradeError(ErrorCode.BROKER_UNAVAILABLE, "the SnapTrade adapter is closed")
