"""SIGTERM without losing an answer: stop taking calls, let the ones in flight finish, answer them, exit.

A placement in flight when the process is told to stop must end the way it would have (its
outcome recorded, its caller answered), not like a crash. The grace period is the broker
timeout plus a margin, so a placement always has the time it is allowed. A call that arrives
meanwhile is answered SHUTTING_DOWN (a structured tool error; nothing was done). Over stdio the
server installs this SIGTERM handling itself; over HTTP (MCP and the API) `mcp_tools/http_shutdown.py`
gives uvicorn the same behaviour.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import anyio
from mcp_types import CallToolResult

from brokers.errors import ErrorCode, TradeError
from mcp_tools.results import Redactor, failure
from settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_MARGIN_SECONDS = 5.0
FLUSH_SECONDS = 0.2
"""After the last call returned, time for its answer to reach the client's pipe."""


def grace_seconds(settings: Settings) -> float:
    return settings.broker_timeout_seconds + SHUTDOWN_MARGIN_SECONDS


def shutting_down() -> TradeError:
    return TradeError(ErrorCode.SHUTTING_DOWN, "the server is shutting down and takes no new calls; nothing was "
                      "done. Call again once it is back (or on another instance).", {"placed": False})


class InFlight:
    """Calls in flight, and whether the process has stopped taking new ones."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0

    async def drain(self, grace: float) -> None:
        """Stop taking calls; return once none is in flight (or the grace period is over)."""
        self.draining = True
        with anyio.move_on_after(grace):
            while self.in_flight:
                await anyio.sleep(0.05)
        if self.in_flight:
            log.warning("shutting down with %d call(s) still running after %.0f s", self.in_flight, grace)
        await anyio.sleep(FLUSH_SECONDS)


class DrainOnShutdown(InFlight):
    """Server middleware: counts tool calls in flight, and answers new ones SHUTTING_DOWN once draining."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        if self.draining:
            return refused_while_draining()
        self.in_flight += 1
        try:
            return await call_next(ctx)
        finally:
            self.in_flight -= 1


def refused_while_draining() -> CallToolResult:
    return failure(shutting_down(), Redactor())


async def run_stdio_until_terminated(
    server: Any, drain: DrainOnShutdown, grace: float, close: Callable[[], None]
) -> None:
    """Serve stdio until the client disconnects, or until SIGTERM has been drained.

    After SIGTERM the process ends here: the stdio reader sits in a blocking read of stdin that
    no cancellation interrupts, so once the calls are answered and the service is closed
    (`close`), the process exits without waiting for the client to hang up.
    """
    async with anyio.create_task_group() as group:

        async def serve() -> None:
            await server.run_stdio_async()
            group.cancel_scope.cancel()

        group.start_soon(serve)
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _signal in signals:
                log.warning("SIGTERM: finishing %d call(s) in flight, then exiting", drain.in_flight)
                await drain.drain(grace)
                await anyio.to_thread.run_sync(close)
                logging.shutdown()
                sys.stdout.flush()
                os._exit(0)
