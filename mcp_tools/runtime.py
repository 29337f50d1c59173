"""Building the service for a long-running process: schema check, lazy start, secrets to redact.

The MCP server must answer `initialize` and `tools/list` before the database (maybe an
embedded PostgreSQL that takes seconds to start) and the broker SDKs are ready, so the
service is built on a worker thread on first need and shared afterwards.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from brokers.errors import ErrorCode, TradeError
from services.trade_execution import TradeExecutionService
from settings import Settings

log = logging.getLogger(__name__)

ServiceFactory = Callable[[], TradeExecutionService]


def schema_head() -> str:
    """The newest revision of this module's migration branch."""
    from alembic.script import ScriptDirectory

    from db.migrate import HEAD, alembic_config

    heads = ScriptDirectory.from_config(alembic_config("postgresql://")).get_revisions(HEAD)
    return heads[0].revision


def prepare_database(settings: Settings, *, migrate: bool | None = None) -> str:
    """Return the database URL once the schema is at head.

    The embedded default database is migrated automatically (a newcomer has nothing to
    run); an operator's own database is only checked, so schema changes stay deliberate.
    """
    from db import migrate as migrations
    from db.engine import database_url

    url = database_url(settings)
    if migrate is None:
        migrate = settings.database_url is None
    head = schema_head()
    try:
        current = migrations.current_revision(url)
        if current != head and migrate:
            log.info("migrating the embedded database from %s to %s", current, head)
            migrations.upgrade(url)
            current = migrations.current_revision(url)
    except OperationalError:
        log.exception("database unavailable")
        raise TradeError(ErrorCode.DATABASE_UNAVAILABLE, "the database is not reachable; nothing was done") from None
    if current != head:
        raise TradeError(
            ErrorCode.DATABASE_UNAVAILABLE,
            f"the database schema is at {current or 'no revision'}, this version needs {head}: "
            "run `tradeexec db upgrade` (or `tradeexec db stamp te0001` first for SnapTrade-era tables)",
            {"current": current, "required": head},
        )
    return url


def default_factory(settings: Settings, *, continuous: bool = False) -> ServiceFactory:
    """continuous: a long-running server, whose reconciliation also runs on its own (in-flight checks, polls)."""

    def build() -> TradeExecutionService:
        from services.wiring import build_service

        prepare_database(settings)
        return build_service(settings, continuous=continuous)

    return build


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret value, so results and errors can never echo one."""
    values = [
        secret.get_secret_value()
        for secret in (
            settings.snaptrade_consumer_key, settings.snaptrade_user_secret, settings.mcp_auth_token,
            settings.operator_token, settings.api_auth_token,
        )
        if secret is not None
    ]
    if settings.database_url is not None:
        raw = settings.database_url.get_secret_value()
        try:
            password = make_url(raw).password
        except Exception:
            password = raw
        if password:
            values.append(str(password))
    return values


class ServiceProvider:
    """Builds the service once, on first need, on whatever thread asks; failures are retried next time."""

    def __init__(self, factory: ServiceFactory) -> None:
        self._factory = factory
        self._service: TradeExecutionService | None = None
        self._lock = threading.Lock()
        self._warming = False

    @classmethod
    def of(cls, source: TradeExecutionService | ServiceFactory | ServiceProvider) -> ServiceProvider:
        if isinstance(source, ServiceProvider):
            return source
        if isinstance(source, TradeExecutionService):
            provider = cls(lambda: source)
            provider._service = source
            return provider
        return cls(source)

    @property
    def built(self) -> TradeExecutionService | None:
        return self._service

    def get(self) -> TradeExecutionService:
        """Blocking: call from a worker thread, never from the event loop."""
        service = self._service
        if service is not None:
            return service
        with self._lock:
            if self._service is None:
                try:
                    self._service = self._factory()
                except TradeError:
                    raise
                except OperationalError:
                    log.exception("database unavailable while starting the service")
                    raise TradeError(
                        ErrorCode.DATABASE_UNAVAILABLE, "the database is not reachable; nothing was done"
                    ) from None
                except Exception:
                    log.exception("the trade execution service could not start")
                    raise TradeError(
                        ErrorCode.INTERNAL_ERROR, "the trade execution service could not start; see the server log"
                    ) from None
            return self._service

    def warm_up(self) -> None:
        """Start building in the background (once) so the first tool call does not pay for it."""
        with self._lock:
            if self._service is not None or self._warming:
                return
            self._warming = True
        threading.Thread(target=self._warm, name="tradeexec-warm-up", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.get()
        except TradeError as exc:
            log.warning("service warm-up failed (retried on the next tool call): %s", exc.message)

    def close(self) -> None:
        with self._lock:
            service, self._service = self._service, None
        if service is not None:
            service.close()
