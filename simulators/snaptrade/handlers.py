"""HTTP routing, authentication and fault injection for the SnapTrade simulator.

Every answer is JSON with Content-Type application/json and a Content-Length, over
HTTP/1.1 keep-alive (the SDK's urllib3 pool reuses connections).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from .auth import bad_user, check_request
from .errors import CODE_INTERNAL, CODE_VALIDATION, ApiError, bad_request, error_body
from .faults import Fault, FaultQueue, Holds, LoggedRequest, RequestLog, default_fault_body
from .models import iso
from .trading import SimBroker

log = logging.getLogger(__name__)

MAX_ORDER_DAYS = 90


class App(Protocol):
    """What the handler needs from the simulator object."""

    broker: SimBroker
    faults: FaultQueue
    holds: Holds
    log: RequestLog
    client_id: str
    consumer_key: str
    check_signatures: bool
    check_timestamp: bool
    stopping: threading.Event


@dataclass
class Call:
    """One authenticated API call, as handed to a route function."""

    broker: SimBroker
    user_id: str
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]


Route = Callable[[Call], Any]


def _days(call: Call) -> int:
    try:
        days = int(call.query.get("days", "30"))
    except ValueError:
        raise bad_request("days must be an integer") from None
    return min(days, MAX_ORDER_DAYS)


def _flag(call: Call, name: str, default: bool) -> bool:
    value = call.query.get(name)
    return default if value is None else value.lower() == "true"


def _recent_orders(call: Call) -> dict[str, Any]:
    orders = call.broker.orders_json(call.user_id, call.params["acct"], "all", 1)
    if _flag(call, "only_executed", True):
        orders = [o for o in orders if o["status"] == "EXECUTED"]
    return {"orders": orders}


def _order_id(call: Call) -> str:
    oid = call.body.get("brokerage_order_id")
    if not isinstance(oid, str) or not oid:
        raise bad_request("brokerage_order_id is required")
    return oid


def _substring(call: Call) -> str:
    sub = call.body.get("substring")
    if not isinstance(sub, str):
        raise bad_request("substring is required")
    return sub


_A = r"/accounts/(?P<acct>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    (m, re.compile(p + "$"), f) for m, p, f in [
        ("GET", "/accounts", lambda c: c.broker.accounts_json(c.user_id)),
        ("GET", "/accounts/all", lambda c: c.broker.all_accounts_json(c.user_id)),
        ("GET", _A, lambda c: c.broker.account_json(c.user_id, c.params["acct"])),
        ("GET", _A + "/balances", lambda c: c.broker.balances_json(c.user_id, c.params["acct"])),
        ("GET", _A + "/positions/all", lambda c: c.broker.positions_json(c.user_id, c.params["acct"])),
        ("GET", _A + "/holdings", lambda c: c.broker.holdings_json(c.user_id, c.params["acct"])),
        ("GET", _A + "/orders", lambda c: c.broker.orders_json(
            c.user_id, c.params["acct"], c.query.get("state", "all"), _days(c))),
        ("POST", _A + "/orders/details", lambda c: c.broker.order_json(
            c.user_id, c.params["acct"], _order_id(c))),
        ("GET", _A + "/recentOrders", _recent_orders),
        ("POST", _A + "/symbols", lambda c: c.broker.search_json(c.user_id, c.params["acct"], _substring(c))),
        ("GET", _A + "/quotes", lambda c: c.broker.quotes_json(
            c.user_id, c.params["acct"], c.query.get("symbols", ""), _flag(c, "use_ticker", False))),
        ("POST", _A + "/trading/cancel", lambda c: c.broker.cancel(c.user_id, c.params["acct"], c.body)),
        ("POST", "/trade/impact", lambda c: c.broker.impact(c.user_id, c.body)),
        ("POST", "/trade/place", lambda c: c.broker.place_force(c.user_id, c.body)),
        ("POST", r"/trade/(?P<trade>[^/]+)", lambda c: c.broker.place_trade(c.user_id, c.params["trade"])),
        ("GET", "/authorizations", lambda c: c.broker.authorizations_json(c.user_id)),
        ("POST", r"/authorizations/(?P<auth>[^/]+)/refresh", lambda c: c.broker.refresh(
            c.user_id, c.params["auth"])),
    ]
]


class SimHTTPServer(ThreadingHTTPServer):
    """Tracks open connections so stop() can end idle keep-alive threads."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, SnapTradeHandler)
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish mid-request (timeouts, resets) are normal here, not errors."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        log.exception("SnapTrade simulator: error while serving a request")

    def close_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class SnapTradeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle + delayed ACK cost ~40 ms each
    server: SimHTTPServer
    server_version = "SnapTradeSimulator/1.0"

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry the userSecret in the query string."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # ------------------------------------------------------------------ core
    def _handle(self) -> None:
        app = self.server.app
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._send(411, error_body(411, "A valid Content-Length is required", CODE_VALIDATION), {})
            return
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        path, raw_query = parts.path, parts.query
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        content: Any = None
        body: Any = None
        body_error = None
        if raw.strip():
            try:
                content = json.loads(raw)
                body = json.loads(raw, parse_float=Decimal)
            except ValueError:
                body_error = bad_request("Request body is not valid JSON")
        entry = app.log.record(self.command, path, query, content)
        app.holds.wait(self.command, path)
        fault = app.faults.take(self.command, path)
        if fault is not None and not fault.process:
            self._finish_fault(fault, entry, None)
            return
        if body_error is not None:
            status, payload = body_error.status, body_error.body()
        else:
            status, payload = self._dispatch(app, path, raw_query, query, content, body)
        if fault is not None:
            self._finish_fault(fault, entry, (status, payload))
            return
        app.log.finish(entry, status, fault=False)  # before answering: the client may look at once
        self._send(status, payload, {})

    def _finish_fault(self, fault: Fault, entry: LoggedRequest, real: tuple[int, Any] | None) -> None:
        app = self.server.app
        if fault.hang_seconds:
            app.stopping.wait(fault.hang_seconds)
        if fault.drop or app.stopping.is_set():
            app.log.finish(entry, 0, fault=True)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault.status is None and real is not None:
            status, payload = real
        else:
            status = fault.status or 500
            payload = fault.body if fault.body is not None else default_fault_body(status)
        app.log.finish(entry, status, fault=True)
        self._send(status, payload, fault.headers)

    def _dispatch(
        self, app: App, path: str, raw_query: str, query: dict[str, str], content: Any, body: Any
    ) -> tuple[int, Any]:
        try:
            if path in ("", "/") and self.command == "GET":
                return 200, {"version": 151, "timestamp": iso(datetime.now(UTC)), "online": True}
            route, params = self._route(path)
            check_request(
                client_id=app.client_id,
                consumer_key=app.consumer_key,
                check_signature=app.check_signatures,
                check_timestamp=app.check_timestamp,
                path=path,
                raw_query=raw_query,
                query=query,
                content=content,
                signature=self.headers.get("Signature"),
            )
            user_id = query.get("userId")
            if user_id is None or not app.broker.check_user(user_id, query.get("userSecret")):
                raise bad_user()
            if body is not None and not isinstance(body, dict):
                raise bad_request("Request body must be a JSON object")
            call = Call(app.broker, user_id, params, query, body or {})
            return 200, route(call)
        except ApiError as exc:
            return exc.status, exc.body()
        except Exception:
            log.exception("SnapTrade simulator: unhandled error on %s %s", self.command, path)
            return 500, error_body(500, "Internal simulator error", CODE_INTERNAL)

    def _route(self, path: str) -> tuple[Route, dict[str, str]]:
        path_matched = False
        for method, pattern, func in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            path_matched = True
            if method == self.command:
                return func, {k: unquote(v) for k, v in match.groupdict().items()}
        if path_matched:
            raise ApiError(405, f"Method {self.command} not allowed on {path}", CODE_VALIDATION)
        raise ApiError(404, f"No endpoint at {path}", "1020")

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload, default=str).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client went away (timed out); nothing to answer
            self.close_connection = True
