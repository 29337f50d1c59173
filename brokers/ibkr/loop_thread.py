"""An asyncio event loop on its own daemon thread, plus one worker thread for blocking callbacks.

ib_async must live on one loop; the service is synchronous. This is the smallest piece that
lets sync code submit coroutines to that loop, and lets the loop hand blocking work (database
writes for pushed order events) to a thread of its own so the loop itself never blocks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., None])


class Listeners(Generic[F]):
    """Callbacks that may be added or removed from any thread while the loop iterates a copy."""

    def __init__(self) -> None:
        self._items: list[F] = []

    def add(self, listener: F) -> None:
        self._items.append(listener)

    def remove(self, listener: F) -> None:
        with contextlib.suppress(ValueError):
            self._items.remove(listener)

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._items))

    def notify(self, *args: Any) -> None:
        """Call each listener; one that fails is logged and does not stop the others."""
        for listener in self:
            try:
                listener(*args)
            except Exception:
                log.exception("IBKR listener %r failed", listener)


class LoopThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{name}-events")
        self._stopped = False

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def dispatch(self, work: Callable[..., None], *args: Any) -> None:
        """Run `work(*args)` on the worker thread, in submission order; dropped once stopped."""
        if self._stopped:
            return
        with contextlib.suppress(RuntimeError):  # the worker shut down meanwhile
            self._worker.submit(_logged, work, *args)

    def stop(self, closing: Coroutine[Any, Any, None] | None = None, timeout: float = 5.0) -> None:
        """Run `closing` on the loop, stop the loop, then let the worker finish what it was given."""
        self._stopped = True
        if self._thread.is_alive():
            if closing is not None:
                try:
                    self.submit(closing).result(timeout)
                except Exception:
                    log.warning("%s did not close cleanly", self.name, exc_info=True)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        elif closing is not None:
            closing.close()
        self._worker.shutdown(wait=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            pending = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(asyncio.sleep(0))  # let closed transports finish closing
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


def _logged(work: Callable[..., None], *args: Any) -> None:
    try:
        work(*args)
    except Exception:
        log.exception("IBKR event handler failed")
