"""One connection attempt, ended early when the gateway has already said no.

`IB.connectAsync` waits out its whole timeout when the gateway closes the socket during the
handshake (which is how a duplicate client id, error 326, arrives). Listening for that error
and for ib_async's "closed before ready" notice lets a refused attempt fail in milliseconds,
with a reason a person can act on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ib_async import IB

from brokers.ibkr.lifecycle import Endpoint, client_id_in_use_message
from brokers.ibkr.status import CLIENT_ID_IN_USE_CODES


@dataclass(frozen=True)
class Attempt:
    ok: bool
    code: int | None = None
    message: str = ""


async def connect_once(ib: IB, endpoint: Endpoint, timeout: float) -> Attempt:
    abort = asyncio.Event()
    heard: dict[str, Any] = {"code": None, "message": None}

    def on_error(_req_id: int, code: int, _message: str, _contract: Any) -> None:
        if code in CLIENT_ID_IN_USE_CODES:
            heard["code"] = code
            abort.set()

    def on_api_error(message: str) -> None:
        heard["message"] = heard["message"] or message
        abort.set()

    ib.errorEvent += on_error
    ib.client.apiError += on_api_error
    try:
        error = await _race(ib.connectAsync(endpoint.host, endpoint.port, endpoint.client_id, timeout=timeout), abort)
    finally:
        ib.errorEvent -= on_error
        ib.client.apiError -= on_api_error
    if error is None and not abort.is_set() and ib.isConnected():
        return Attempt(ok=True)
    if ib.client.isConnected():
        ib.disconnect()
    return Attempt(ok=False, code=heard["code"], message=_reason(endpoint, timeout, heard, error))


async def _race(connecting: Any, abort: asyncio.Event) -> BaseException | None:
    """Run the connect until it finishes or `abort` is set; the connect's exception, if any."""
    attempt = asyncio.ensure_future(connecting)
    aborted = asyncio.ensure_future(abort.wait())
    try:
        await asyncio.wait({attempt, aborted}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        aborted.cancel()
    if not attempt.done():
        attempt.cancel()
    try:
        await attempt
    except asyncio.CancelledError:
        if not abort.is_set():
            raise  # the caller is being cancelled (shutdown), not the attempt
    except Exception as exc:
        return exc
    return None


def _reason(endpoint: Endpoint, timeout: float, heard: dict[str, Any], error: BaseException | None) -> str:
    """One clear reason: a 326 beats the exception, which beats ib_async's own text."""
    where = f"{endpoint.host}:{endpoint.port}"
    if heard["code"] in CLIENT_ID_IN_USE_CODES:
        return client_id_in_use_message(endpoint)
    if isinstance(error, ConnectionRefusedError):
        return f"IB Gateway refused the connection at {where} (is it running, with the API port open?)"
    if isinstance(error, TimeoutError):
        return f"IB Gateway at {where} did not complete the API handshake within {timeout:g}s"
    if error is not None:
        return f"could not connect to IB Gateway at {where}: {type(error).__name__}: {error}"
    if heard["message"]:
        return f"IB Gateway at {where} closed the connection during the API handshake ({heard['message']})"
    return f"could not connect to IB Gateway at {where}"
