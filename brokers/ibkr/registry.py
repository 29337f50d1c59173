"""The process-wide IBKRConnectionManager per gateway endpoint (host, port, client id).

One client id is one API session at the gateway, so every adapter, CLI command and health probe
in a process shares the manager for its settings instead of opening a session of its own.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from brokers.ibkr.connection import IBKRConnectionManager
from brokers.ibkr.lifecycle import Endpoint
from settings import Settings

_managers: dict[Endpoint, IBKRConnectionManager] = {}
_lock = threading.Lock()


def shared_manager(settings: Settings, **options: Any) -> IBKRConnectionManager:
    """The manager for IBKR_GATEWAY_HOST/PORT and IBKR_CLIENT_ID, created on first use (and again after a
    shutdown)."""
    endpoint = Endpoint(settings.ibkr_gateway_host, settings.ibkr_gateway_port, settings.ibkr_client_id)
    with _lock:
        manager = _managers.get(endpoint)
        if manager is None or manager.closed:
            options.setdefault("request_timeout", settings.ibkr_request_timeout_seconds)
            manager = IBKRConnectionManager(endpoint.host, endpoint.port, endpoint.client_id, **options)
            _managers[endpoint] = manager
        return manager


def shutdown_all() -> None:
    with _lock:
        managers = list(_managers.values())
        _managers.clear()
    for manager in managers:
        manager.shutdown()


atexit.register(shutdown_all)
