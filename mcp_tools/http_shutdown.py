"""SIGTERM over HTTP (`tradeexec mcp --transport http`, `tradeexec api`): the stdio behaviour, with uvicorn.

On the first SIGTERM (or Ctrl-C) the server keeps listening, so a call that arrives meanwhile gets a
clear answer (SHUTTING_DOWN: an MCP tool error, or HTTP 503 from the API) instead of a refused
connection; the calls in flight run to their end (up to the grace period: the broker timeout plus a
margin) and are answered; only then does uvicorn shut down, briefly, and `serve` returns, so the
caller closes the service and the process exits 0. uvicorn's own handling re-raised the signal
after serving, which killed the process before the service was closed. A second signal stops at once.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from types import FrameType
from typing import Any

import uvicorn

from mcp_tools.shutdown import InFlight, shutting_down

log = logging.getLogger(__name__)

CLOSE_SECONDS = 2
"""uvicorn's own graceful timeout, once nothing is in flight: answers still being written, open SSE streams."""


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, gate: InFlight, grace: float) -> None:
        config.timeout_graceful_shutdown = CLOSE_SECONDS
        super().__init__(config)
        self.gate = gate
        self.grace = grace
        self._signal: int | None = None
        self._deadline = float("inf")
        self._announced = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._signal is not None:
            super().handle_exit(sig, frame)
            return
        self._signal = sig
        self.gate.draining = True
        self._deadline = time.monotonic() + self.grace

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        if self._signal is None:
            return False
        if not self._announced:  # logged here, not in the signal handler
            self._announced = True
            log.warning("%s: taking no new calls; finishing %d in flight (up to %.0f s), then exiting",
                        signal.Signals(self._signal).name, self.gate.in_flight, self.grace)
        if self.gate.in_flight and time.monotonic() < self._deadline:
            return False
        if self.gate.in_flight:
            log.warning("shutting down with %d call(s) still running after %.0f s", self.gate.in_flight, self.grace)
        return True


class DrainRequests(InFlight):
    """ASGI middleware for the API: counts HTTP requests in flight; once draining, new ones get 503 SHUTTING_DOWN."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.draining:
            log.warning("%s %s refused: shutting down", scope.get("method"), scope.get("path"))
            body = json.dumps(shutting_down().to_dict()).encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"), (b"retry-after", b"5")]})
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
