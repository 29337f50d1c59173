"""DNS-rebinding protection for an HTTP server bound to loopback without a token (MCP, the REST API, /ui).

A loopback bind is safe from the network, not from the browser on the same machine: a page on
any site can point its own host name at 127.0.0.1 and then talk to the port. What it cannot
forge is the Host header (its own name) or, for a cross-site request, the Origin header. So
every request must name the bound loopback address or name (or `localhost`) as its Host, and
an Origin, when present, must be a loopback origin. This holds on every spelling of loopback
(127.0.0.2, LOCALHOST, [::1], 0:0:0:0:0:0:0:1), unlike the SDK's own check.

    app = LoopbackOnly(app, host="127.0.0.1", port=8080)     # any ASGI app
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from brokers.errors import ErrorCode

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in LOCAL_NAMES:
        return True
    address = _address(name)
    return address is not None and address.is_loopback  # any other name may resolve to a public interface


def split_host(value: str) -> tuple[str, int | None] | None:
    """`name[:port]` or `[v6][:port]` as a lower-case name and a port; None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[1:end], value[end + 1:]
        if end < 0 or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    else:
        name, sep, port_text_or_empty = value.partition(":")
        port_text = port_text_or_empty if sep else None
        if ":" in port_text_or_empty:
            return None  # an unbracketed IPv6 literal is not a valid Host
    if not name or (port_text is not None and not port_text.isdigit()):
        return None
    return name, int(port_text) if port_text is not None else None


class LoopbackOnly:
    """ASGI middleware: 403 unless Host names the bound loopback address (or `localhost`) and Origin is loopback."""

    def __init__(self, app: ASGIApp, host: str, port: int, open_paths: Iterable[str] = ()) -> None:
        if not is_loopback(host):
            raise ValueError(f"LoopbackOnly protects loopback binds; {host!r} is not loopback")
        self.app = app
        self.name = host.strip().strip("[]").lower()
        self.address = _address(self.name)
        self.port = port
        self.open_paths = frozenset(open_paths)

    def host_allowed(self, value: str) -> bool:
        parsed = split_host(value)
        if parsed is None:
            return False
        name, port = parsed
        if port is not None and port != self.port:
            return False
        if name in (self.name, "localhost"):
            return True
        address = _address(name)
        return address is not None and address == self.address

    @staticmethod
    def origin_allowed(value: str) -> bool:
        try:
            parts = urlsplit(value.strip())
            hostname = parts.hostname
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and hostname is not None and is_loopback(hostname)

    def refusal(self, scope: Scope) -> str | None:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get(b"host")
        if host is None or not self.host_allowed(host):
            return "the Host header must name the loopback address this server is bound to"
        origin = headers.get(b"origin")
        if origin is not None and not self.origin_allowed(origin):
            return "cross-origin requests from non-loopback pages are refused"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        reason = self.refusal(scope)
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error_code": ErrorCode.UNAUTHORIZED.value, "message": reason, "details": {}}).encode()
        await send({"type": "http.response.start", "status": 403, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})
