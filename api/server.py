"""`tradeexec api`: serve `create_app` with uvicorn, refusing any configuration that exposes an open order desk.

Off loopback a bearer token is required (the process refuses to start without one). Without a
token, requests are accepted only when their Host names the loopback address or name the server
is bound to, so a web page cannot reach it through DNS rebinding.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from api.app import api_token, create_app
from mcp_tools.auth import AuthConfigurationError
from mcp_tools.http_guard import LoopbackOnly, is_loopback
from mcp_tools.shutdown import grace_seconds
from settings import Settings
from webui import confirmation_page_note

MIN_TOKEN_LENGTH = 16


def check_exposure(host: str, token: str | None) -> None:
    """Raise AuthConfigurationError when serving on `host` with `token` would be unsafe."""
    if not token and not is_loopback(host):
        raise AuthConfigurationError(
            f"refusing to serve the trade API on {host} without API_AUTH_TOKEN (or MCP_AUTH_TOKEN): anyone who "
            "can reach the port could place orders. Set a long random token or bind to 127.0.0.1."
        )
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise AuthConfigurationError(f"the API token is too short: use at least {MIN_TOKEN_LENGTH} random characters")


def guard_hosts(app: Any, host: str, port: int, token: str | None) -> Any:
    """Without a token (a loopback bind), only requests addressed to the bound loopback name get through."""
    return app if token else LoopbackOnly(app, host, port)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(256)
    return sock


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run until stopped (SIGINT/SIGTERM); in-flight requests get the broker timeout plus a margin to finish."""
    import anyio
    import uvicorn

    from mcp_tools.http_shutdown import DrainingServer, DrainRequests

    token = api_token(settings)
    check_exposure(host, token)
    app = create_app(None, settings)
    provider = app.state.provider
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    auth = "bearer token required" if token else "no token (loopback only)"
    print(f"tradeexec API listening on http://{shown}:{bound} ({auth})", file=sys.stderr, flush=True)
    print(confirmation_page_note(settings), file=sys.stderr, flush=True)
    provider.warm_up()
    drain = DrainRequests(app)  # SIGTERM: requests in flight finish and are answered, new ones get 503 SHUTTING_DOWN
    config = uvicorn.Config(guard_hosts(drain, host, bound, token), log_level="warning", lifespan="on",
                            access_log=False)
    try:
        anyio.run(lambda: DrainingServer(config, drain, grace_seconds(settings)).serve(sockets=[sock]))
    finally:
        provider.close()
