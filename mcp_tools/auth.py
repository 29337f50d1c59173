"""Bearer-token protection for the streamable HTTP transport.

A trading endpoint reachable from the network without a credential is an open order
desk, so a non-loopback bind without MCP_AUTH_TOKEN is refused at start-up, and every
request to a protected server must carry `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from brokers.errors import ErrorCode
from mcp_tools.http_guard import is_loopback

__all__ = ["AuthConfigurationError", "BearerTokenAuth", "is_loopback", "require_token_for"]

class AuthConfigurationError(ValueError):
    """The HTTP transport would be reachable without a token."""


def require_token_for(host: str, token: str | None) -> None:
    if not token and not is_loopback(host):
        raise AuthConfigurationError(
            f"refusing to serve MCP over HTTP on {host} without MCP_AUTH_TOKEN: anyone who can reach the port "
            "could place orders. Set MCP_AUTH_TOKEN (a long random value) or bind to 127.0.0.1."
        )
    if token is not None and len(token) < 16:
        raise AuthConfigurationError("MCP_AUTH_TOKEN is too short: use at least 16 random characters")


class BearerTokenAuth:
    """ASGI middleware: 401 with a structured body unless the bearer token matches (constant-time)."""

    def __init__(self, app: ASGIApp, token: str, open_paths: Iterable[str] = ()) -> None:
        self.app = app
        self._expected = token.encode()
        self.open_paths = frozenset(open_paths)

    def _authorized(self, scope: Scope) -> bool:
        """`Authorization: Bearer <token>`, the scheme in any case; the token compared in constant time."""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                scheme, _, credential = value.strip().partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._expected)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan" or (kind == "http" and (scope.get("path") in self.open_paths or self._authorized(scope))):
            await self.app(scope, receive, send)
            return
        if kind != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({
            "error_code": ErrorCode.UNAUTHORIZED.value,
            "message": "missing or invalid bearer token (Authorization: Bearer <MCP_AUTH_TOKEN>)",
            "details": {},
        }).encode()
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="tradeexec"'),
            ],
        })
        await send({"type": "http.response.body", "body": body})
