"""Driving raw ib_async against the simulator from synchronous pytest tests.

Each test runs its coroutine in a fresh event loop; waits use ib_async's own events
(updateEvent after every batch of messages), never fixed sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ib_async import IB

from simulators.ib_gateway import IBGatewaySimulator

T = TypeVar("T")
TEST_TIMEOUT = 30.0


def run(coro: Awaitable[T], timeout: float = TEST_TIMEOUT) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


async def connect(sim: IBGatewaySimulator, client_id: int = 1, timeout: float = 5, **kwargs: Any) -> IB:
    ib = IB()
    ib.RequestTimeout = 10
    await ib.connectAsync("127.0.0.1", sim.port, clientId=client_id, timeout=timeout, **kwargs)
    return ib


async def until(ib: IB, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Wait for incoming messages (or a disconnect) until ``predicate`` holds.

    The wake-up handler is attached synchronously right after the check, so an update that
    lands between the check and the wait cannot be missed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        woken: asyncio.Future[None] = loop.create_future()
        wake = _waker(woken)
        ib.updateEvent += wake
        ib.disconnectedEvent += wake
        try:
            await asyncio.wait_for(woken, remaining)
        except TimeoutError:
            pass
        finally:
            ib.updateEvent -= wake
            ib.disconnectedEvent -= wake


def _waker(woken: asyncio.Future[None]) -> Callable[..., None]:
    def wake(*_args: Any) -> None:
        if not woken.done():
            woken.set_result(None)

    return wake


async def until_disconnected(ib: IB, timeout: float = 10.0) -> None:
    await until(ib, lambda: not ib.isConnected(), timeout, what="disconnect")
