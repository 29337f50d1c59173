"""Health of the pieces an order depends on: the database (and its schema) and each configured broker.

Each check answers within a bound, so a hung gateway makes `tradeexec healthcheck` fail
with a message instead of hanging the container's health probe.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from brokers.errors import TradeError
from settings import Settings

log = logging.getLogger(__name__)

Check = dict[str, str]
PROBE_CLIENT_ID_OFFSET = 1000
"""The IBKR probe connects as IBKR_CLIENT_ID + 1000: a gateway allows one session per client id, and the
probe must neither be refused by nor disconnect the running server's session."""


def _check(component: str, status: str, detail: str) -> Check:
    return {"component": component, "status": status, "detail": detail}


def database_check(settings: Settings) -> Check:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from db import migrate
    from db.engine import database_url, one_shot_engine
    from mcp_tools.runtime import schema_head

    try:
        url = database_url(settings)
        engine = one_shot_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        current = migrate.current_revision(url)
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0][:200]
        return _check("database", "down", f"not reachable: {reason}")
    except Exception as exc:
        log.exception("database check failed")
        return _check("database", "down", f"could not be checked: {type(exc).__name__}")
    where = "embedded PostgreSQL" if settings.database_url is None else "PostgreSQL"
    head = schema_head()
    if current != head:
        return _check("database", "down", f"{where} reachable but schema at {current or 'none'}, needs {head}: "
                                          "run `tradeexec db upgrade`")
    return _check("database", "ok", f"{where} reachable, schema {current}")


def broker_check(settings: Settings, name: str, timeout: float) -> Check:
    from services.wiring import build_adapters

    component = f"broker {name}"
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"health-{name}")

    def probe() -> str:
        probe_id = settings.ibkr_client_id + PROBE_CLIENT_ID_OFFSET
        probe_settings = settings.model_copy(update={"brokers": (name,), "ibkr_client_id": probe_id})
        adapters = build_adapters(probe_settings)
        try:
            accounts = [a for adapter in adapters for a in adapter.list_accounts()]
        finally:
            for adapter in adapters:
                adapter.close()
            if name == "ibkr":  # the probe's own session must not outlive the check in a long-lived process
                from brokers.ibkr.registry import shared_manager

                shared_manager(probe_settings).shutdown()
        paper = sum(1 for a in accounts if a.is_paper)
        return f"{len(accounts)} account(s), {paper} paper"

    try:
        return _check(component, "ok", pool.submit(probe).result(timeout=timeout))
    except FutureTimeout:
        return _check(component, "down", f"no answer within {timeout:g}s")
    except TradeError as exc:
        return _check(component, "down", f"{exc.code.value}: {exc.message}")
    except Exception as exc:
        log.exception("broker check failed")
        return _check(component, "down", f"could not be checked: {type(exc).__name__}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def trading_check(settings: Settings) -> Check:
    mode = settings.trading_mode.value
    blocked = settings.trading_block_reason()
    if blocked:
        return _check("trading", "warning", blocked)
    if not settings.orders_enabled:
        return _check("trading", "ok", f"mode {mode}, ORDERS_ENABLED=false: orders are recorded as SIMULATED")
    return _check("trading", "ok" if mode == "paper" else "warning", f"mode {mode}, orders enabled")


def health_checks(settings: Settings, timeout: float = 15.0) -> list[Check]:
    checks = [database_check(settings)]
    if not settings.brokers:
        checks.append(_check("brokers", "warning", "no broker configured (set BROKERS=ibkr,snaptrade)"))
    checks.extend(broker_check(settings, name, timeout) for name in settings.brokers)
    checks.append(trading_check(settings))
    from mcp_tools.results import Redactor
    from mcp_tools.runtime import secret_values

    redact = Redactor(secret_values(settings))
    return [{**c, "detail": redact(c["detail"])} for c in checks]


def summary(checks: list[Check]) -> dict[str, Any]:
    return {"healthy": all(c["status"] != "down" for c in checks), "checks": checks}
