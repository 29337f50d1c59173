"""Requests the simulator does not implement: answered with an IB error message, never silence.

A real gateway answers every request, and ib_async waits for that answer until its timeout. So a
request the simulator has no handler for gets error 322 ('Server error when processing an API
client request') addressed to the request's own id, which ends the client's wait at once
(ib_async's `wrapper.error` ends the pending request with that id). A request that fails inside
its handler gets 320 ('Server error when reading an API client request') the same way. Requests
without an id are answered with the empty reply ib_async waits for, and cancels (and other
fire-and-forget messages) get nothing, as with TWS.
"""

from __future__ import annotations

from .wire import parse_int

NOT_SUPPORTED = 322
"""'Server error when processing an API client request'. Not 321: ib_async 2.1.0 treats 321 as a
warning and would keep waiting for the request."""
READ_FAILED = 320

REQUEST_ID_FIELD: dict[int, int] = {
    # version field, then the request (or order) id
    1: 2, 4: 2, 9: 2, 10: 2, 21: 2, 50: 2, 52: 2, 54: 2, 55: 2, 62: 2, 67: 2, 68: 2, 69: 2, 74: 2, 76: 2,
    # no version field: the id comes first
    3: 1, 20: 1, 22: 1, 78: 1, 79: 1, 81: 1, 83: 1, 84: 1, 86: 1, 87: 1, 88: 1, 92: 1, 94: 1, 96: 1, 97: 1,
    100: 1, 102: 1, 104: 1,
    # the request id after other fields
    19: 4,
}
"""Message id -> index of its request id (ib_async 2.1.0 client.py)."""

SILENT = frozenset({
    2, 4, 11, 12, 13, 14, 15, 23, 25, 51, 53, 56, 57, 63, 64, 70, 75, 77, 89, 90, 93, 95, 98, 101, 103,
})
"""Cancels, unsubscribes and settings that TWS never answers (reqAutoOpenOrders, setServerLogLevel, ...), and
reqNewsBulletins (12), answered only when a bulletin is published."""

UNADDRESSED = frozenset({18, 65, 66, 72, 73})
"""Requests that carry no id and wait for no reply by name (requestFA, the verify* handshakes): answered with
error 322 for id -1, as a gateway that does not serve them would."""

EMPTY_REPLIES: dict[int, list[str]] = {
    24: ["19", "1", ""],  # reqScannerParameters -> scannerParameters (empty XML)
    80: ["78", "0"],  # reqFamilyCodes -> familyCodes (none)
    82: ["80", "0"],  # reqMktDepthExchanges -> mktDepthExchanges (none)
    85: ["85", "0"],  # reqNewsProviders -> newsProviders (none)
}
"""Requests without an id: ib_async waits for their reply message by name, so an empty one is sent."""


def _market_rule(fields: list[str]) -> list[str]:
    """reqMarketRule(id) -> marketRule: one increment of 0.01 from price 0 (ib_async waits for it by id)."""
    return ["93", fields[1] if len(fields) > 1 else "0", "1", "0", "0.01"]


BUILT_REPLIES = {91: _market_rule}
"""Requests whose reply repeats a field of the request: built from it."""


def request_id(fields: list[str]) -> int:
    """The request (or order) id of a client message, -1 when it carries none."""
    msg_id = parse_int(fields[0], -1)
    index = REQUEST_ID_FIELD.get(msg_id)
    if index is None or index >= len(fields):
        return -1
    return parse_int(fields[index], -1)


def answer(msg_id: int, fields: list[str]) -> tuple[list[str] | None, int, str] | None:
    """What to send for an unimplemented request: (a reply message, or None and an error (id, text));
    None when TWS sends nothing."""
    if msg_id in SILENT:
        return None
    reply = EMPTY_REPLIES.get(msg_id)
    if msg_id in BUILT_REPLIES:
        reply = BUILT_REPLIES[msg_id](fields)
    if reply is not None:
        return reply, -1, ""
    text = f"Server error when processing an API client request: message {msg_id} is not supported by the simulator"
    return None, request_id(fields), text
