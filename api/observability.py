"""Per-request correlation id, one structured log line per request, request metrics and `/metrics`.

A client may send `X-Correlation-ID` (a canonical UUID) to tie its own logs to ours; otherwise one is
made. Either way it is answered in the same header and written into trade_events by the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_tools.runtime import ServiceProvider
from services.backlog import unsettled_counts
from telemetry.calls import CallRecord, call_scope
from telemetry.correlation import parse_correlation
from telemetry.metrics import BACKLOG, exposition

CORRELATION_HEADER = "x-correlation-id"
UNLOGGED_PATHS = frozenset({"/metrics", "/health"})
"""Scrapes and probes every few seconds would drown the request log; they stay in the metrics."""


class RequestTelemetry:
    """Pure ASGI middleware, so the correlation contextvar reaches the route and its worker thread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLOGGED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        with call_scope("http", "unmatched", parse_correlation(headers.get(CORRELATION_HEADER))) as record:
            record.note_arguments({"method": scope.get("method", "?")})
            record.note_arguments(dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))))

            async def answer(message: Message) -> None:
                if message["type"] == "http.response.start":
                    record.status = int(message["status"])
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"],
                                          (CORRELATION_HEADER.encode(), str(record.correlation_id).encode())]
                await send(message)

            try:
                await self.app(scope, receive, answer)
            finally:
                _name_the_route(scope, record)


def _name_the_route(scope: Scope, record: CallRecord) -> None:
    """The route's function name labels metrics (bounded set); unmatched paths share one label."""
    route = scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    if endpoint is not None:
        record.name = getattr(endpoint, "__name__", "route")
    record.note_arguments({str(k): v for k, v in (scope.get("path_params") or {}).items()})
    if record.status is not None and record.status >= 400 and record.error_code is None:
        record.fail(f"HTTP_{record.status}")


def install_observability(app: FastAPI, provider: ServiceProvider, guard: Callable[..., Any]) -> None:
    """Add the middleware, `/metrics` (behind `guard`, the bearer check) and the backlog source."""
    app.add_middleware(RequestTelemetry)

    def backlog() -> dict[str, int]:
        service = provider.built
        return unsettled_counts(service.store.session_factory) if service is not None else {}

    BACKLOG.add(backlog)  # a closed provider has no service and contributes nothing

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(guard)])
    def metrics(_request: Request) -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

