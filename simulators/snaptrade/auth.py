"""Request authentication as the SDK signs it.

The SDK signs `json.dumps({"content", "path", "query"}, separators=(",", ":"), sort_keys=True)`
with HMAC-SHA256 keyed by the consumer key and sends it base64 in the `Signature` header.
`content` is the JSON body (null when absent or `{}`), `path` the URL path and `query` the
raw query string as sent (operation params, then userId, userSecret, clientId, timestamp).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from .errors import CODE_BAD_CLIENT_ID, CODE_BAD_SIGNATURE, CODE_BAD_TIMESTAMP, CODE_BAD_USER, ApiError

TIMESTAMP_TOLERANCE_SECONDS = 300


def compute_signature(consumer_key: str, path: str, query: str, content: Any) -> str:
    """The `Signature` header value for a request (content is the parsed JSON body or None)."""
    if content == {}:
        content = None
    message = json.dumps(
        {"content": content, "path": path, "query": query}, separators=(",", ":"), sort_keys=True
    )
    digest = hmac.new(consumer_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_request(
    *,
    client_id: str,
    consumer_key: str,
    check_signature: bool,
    check_timestamp: bool,
    path: str,
    raw_query: str,
    query: dict[str, str],
    content: Any,
    signature: str | None,
) -> None:
    """Raise a 401 ApiError unless clientId, signature and timestamp are good.

    The user id/secret pair is checked separately (it needs the simulator's state).
    The timestamp is compared with the wall clock, never the simulator's trade clock,
    so advancing the trade clock cannot break authentication.
    """
    if query.get("clientId") != client_id:
        raise ApiError(401, "Invalid clientId provided", CODE_BAD_CLIENT_ID)
    if check_signature:
        expected = compute_signature(consumer_key, path, raw_query, content)
        if signature is None or not hmac.compare_digest(expected.encode(), signature.encode()):
            raise ApiError(401, "Unable to verify signature sent", CODE_BAD_SIGNATURE)
    if check_timestamp:
        try:
            stamp = int(query.get("timestamp", ""))
        except ValueError:
            raise ApiError(401, "Missing or invalid timestamp", CODE_BAD_TIMESTAMP) from None
        if abs(time.time() - stamp) > TIMESTAMP_TOLERANCE_SECONDS:
            raise ApiError(401, "Request timestamp is outside the allowed window", CODE_BAD_TIMESTAMP)


def bad_user() -> ApiError:
    return ApiError(401, "Invalid userID or userSecret provided", CODE_BAD_USER)
