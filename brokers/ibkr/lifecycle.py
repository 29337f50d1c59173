"""The small value types of the connection state machine: states, backoff, health.

Kept apart from the manager so the policy (how long to wait, what health reports) can be
read and tested without a socket or an event loop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from brokers.errors import ErrorCode, TradeError


class ConnectionState(StrEnum):
    IDLE = "idle"  # nothing asked for a connection yet (lazy connect)
    CONNECTING = "connecting"  # an attempt is in flight
    CONNECTED = "connected"  # API ready: orders allowed
    DEGRADED = "degraded"  # socket up, but the gateway lost IB's servers (1100): orders refused
    BACKOFF = "backoff"  # not connected, waiting before the next attempt
    CLOSED = "closed"  # shut down for good


class CallKind(StrEnum):
    READ = "read"  # may wait for a (re)connection within its timeout
    ORDER = "order"  # fails at once unless connected (except the very first, lazy connect)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    client_id: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port} (client id {self.client_id})"


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter, so many clients do not reconnect in lockstep."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2
    stable_after: float = 30.0
    """A session that lasted this long resets the backoff; a shorter one counts as a failure."""

    def delay(self, failures: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(failures, 40))
        spread = base * self.jitter
        return max(0.0, min(self.maximum, base + random.uniform(-spread, spread)))


@dataclass(frozen=True)
class LastError:
    code: int | None
    message: str
    at: datetime


@dataclass(frozen=True)
class HealthReport:
    """What `tradeexec healthcheck` prints; never contains credentials."""

    state: ConnectionState
    host: str
    port: int
    client_id: int
    server_version: int | None
    accounts: tuple[str, ...]
    last_error: LastError | None
    connected_since: datetime | None
    connections: int
    failed_attempts: int

    @property
    def connected(self) -> bool:
        return self.state in (ConnectionState.CONNECTED, ConnectionState.DEGRADED)

    @property
    def ready(self) -> bool:
        """Orders can be placed right now."""
        return self.state is ConnectionState.CONNECTED

    def as_dict(self) -> dict[str, Any]:
        error = self.last_error
        return {
            "state": self.state.value,
            "connected": self.connected,
            "ready": self.ready,
            "gateway": f"{self.host}:{self.port}",
            "client_id": self.client_id,
            "server_version": self.server_version,
            "accounts": list(self.accounts),
            "last_error": None if error is None else {
                "code": error.code, "message": error.message, "at": error.at.isoformat()
            },
            "connected_since": self.connected_since.isoformat() if self.connected_since else None,
            "connections": self.connections,
            "failed_attempts": self.failed_attempts,
        }


def unavailable(message: str, endpoint: Endpoint, **details: Any) -> TradeError:
    return TradeError(
        ErrorCode.BROKER_UNAVAILABLE,
        message,
        {"provider": "ibkr", "gateway": f"{endpoint.host}:{endpoint.port}", "client_id": endpoint.client_id,
         **details},
    )


def client_id_in_use_message(endpoint: Endpoint) -> str:
    return (
        f"IB Gateway at {endpoint.host}:{endpoint.port} refused client id {endpoint.client_id}: it is already "
        "in use by another API session (error 326). Set IBKR_CLIENT_ID to an id no other session uses, "
        "or close the other session; the connection manager keeps retrying."
    )
