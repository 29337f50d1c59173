"""The standalone MCP server: `tradeexec mcp [--transport stdio|http]`.

Tools are registered at once and the service is built lazily on a worker thread, so a
client sees `tools/list` immediately while PostgreSQL and the broker SDKs start.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_tools.auth import AuthConfigurationError, BearerTokenAuth, require_token_for
from mcp_tools.descriptions import SERVER_INSTRUCTIONS
from mcp_tools.http_guard import LoopbackOnly
from mcp_tools.observability import ToolCallTelemetry
from mcp_tools.runtime import ServiceFactory, ServiceProvider, default_factory
from mcp_tools.shutdown import DrainOnShutdown, grace_seconds, run_stdio_until_terminated
from mcp_tools.tools import TOOLSETS, register_tools
from services.backlog import unsettled_counts
from services.trade_execution import TradeExecutionService
from settings import Settings
from telemetry.metrics import BACKLOG, exposition

log = logging.getLogger(__name__)

Transport = Literal["stdio", "http"]
MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
SERVER_NAME = "tradeexec"


class WarmUpOnFirstMessage:
    """Starts building the service when the first message arrives.

    Not earlier: on stdio the SDK diverts file descriptor 1 only once it serves, and an
    embedded PostgreSQL started before that could write into the protocol stream.
    """

    def __init__(self, provider: ServiceProvider) -> None:
        self.provider = provider
        self._started = False

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if not self._started:
            self._started = True
            self.provider.warm_up()
        return await call_next(ctx)


def build_server(
    settings: Settings,
    service: TradeExecutionService | ServiceFactory | ServiceProvider | None = None,
) -> tuple[MCPServer[Any], ServiceProvider]:
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME, title="Trade execution", instructions=SERVER_INSTRUCTIONS, version=_version(), log_level="WARNING"
    )
    provider = register_tools(server, service if service is not None else default_factory(settings), settings=settings)
    server.middleware.append(WarmUpOnFirstMessage(provider))
    server.middleware.append(ToolCallTelemetry(lambda: {spec.name for tools in TOOLSETS for spec in tools.specs}))
    BACKLOG.add(lambda: unsettled_counts(provider.built.store.session_factory) if provider.built else {})

    @server.custom_route(HEALTH_PATH, methods=["GET"])
    async def healthz(_request: Request) -> Response:
        """Liveness only (no database or broker details), so it can stay unauthenticated."""
        return JSONResponse({"status": "ok"})

    @server.custom_route(METRICS_PATH, methods=["GET"])
    async def metrics(_request: Request) -> Response:
        """Prometheus text format; behind the bearer token like everything but /healthz."""
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return server, provider


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradeexec")
    except PackageNotFoundError:
        return "0+local"


def serve(settings: Settings, transport: Transport = "stdio", host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run until the client disconnects (stdio) or the process is stopped (http)."""
    token = settings.mcp_auth_token.get_secret_value() if settings.mcp_auth_token is not None else None
    if transport == "http":
        require_token_for(host, token)
        require_session_for_elicitation(settings)
    server, provider = build_server(settings, default_factory(settings, continuous=transport == "http"))
    drain = DrainOnShutdown()  # SIGTERM: calls in flight finish and are answered, new ones get SHUTTING_DOWN
    server.middleware.append(drain)
    try:
        if transport == "stdio":
            import anyio

            anyio.run(run_stdio_until_terminated, server, drain, grace_seconds(settings), provider.close)
        else:
            _serve_http(server, provider, drain, host, port, token, settings)
    finally:
        provider.close()


def require_session_for_elicitation(settings: Settings) -> None:
    """Stateless HTTP has no session to ask the human through: auto would silently execute unasked."""
    if settings.mcp_stateless_http and settings.execute_confirmation == "auto":
        raise AuthConfigurationError(
            "MCP_STATELESS_HTTP=true cannot confirm orders by elicitation (it needs a session): set "
            "EXECUTE_CONFIRMATION=browser (the /ui page), or always/never explicitly, or use sticky sessions instead"
        )


def _serve_http(
    server: MCPServer[Any], provider: ServiceProvider, drain: DrainOnShutdown, host: str, port: int,
    token: str | None, settings: Settings,
) -> None:
    import anyio
    import uvicorn

    from mcp_tools.http_shutdown import DrainingServer

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    app: Any = server.streamable_http_app(
        streamable_http_path=MCP_PATH, host=host, max_sessions=settings.mcp_max_sessions,
        stateless_http=settings.mcp_stateless_http,
    )
    # Without a token the bind is loopback (checked at start-up): only requests addressed to it get through.
    app = BearerTokenAuth(app, token, open_paths=[HEALTH_PATH]) if token else LoopbackOnly(app, host, bound)
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    auth = "bearer token required" if token else "no token (loopback only)"
    print(f"tradeexec MCP server listening on http://{shown}:{bound}{MCP_PATH} ({auth})", file=sys.stderr, flush=True)
    provider.warm_up()
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    # SIGTERM: new calls are answered SHUTTING_DOWN while those in flight get a placement's whole timeout.
    anyio.run(lambda: DrainingServer(config, drain, grace_seconds(settings)).serve(sockets=[sock]))
