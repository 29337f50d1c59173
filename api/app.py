"""`create_app(service, settings)`: the trade API as an ASGI app, or `api_router(...)` to mount in your own.

Standalone: `tradeexec api [--host 127.0.0.1] [--port 8080]` (see api/server.py).

In the platform's own FastAPI app:

    from api.app import api_router
    platform_app.include_router(api_router(service_or_factory, settings), prefix="/trading")

Adding a router to this app (the `/ui` confirmation page does this) is one call, before serving:

    app = create_app(service, settings)
    app.include_router(ui_router, prefix="/ui")      # its own auth: routes under /v1 keep the bearer check

or `create_app(service, settings, routers=[(ui_router, "/ui")])`. The service the routes use is on
`app.state.provider` (a ServiceProvider: `.get()` from a worker thread), the settings on `app.state.settings`.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header

from api.errors import install_error_handlers
from api.market_routes import market_router
from api.models import Health
from api.observability import install_observability
from api.routes import ServiceCalls, trade_router
from brokers.errors import ErrorCode, TradeError
from mcp_tools.results import Redactor
from mcp_tools.runtime import ServiceFactory, ServiceProvider, default_factory, secret_values
from services.trade_execution import TradeExecutionService
from settings import Settings
from webui import mount_ui

API_PREFIX = "/v1"
HEALTH_PATH = "/health"


def api_token(settings: Settings) -> str | None:
    """The bearer token HTTP clients must send: API_AUTH_TOKEN, else MCP_AUTH_TOKEN (one secret for both)."""
    secret = settings.api_auth_token or settings.mcp_auth_token
    return secret.get_secret_value() if secret is not None else None


def bearer_check(token: str | None) -> Any:
    """A dependency: 401 UNAUTHORIZED unless `Authorization: Bearer <token>` (scheme case-insensitive)."""
    expected = (token or "").encode()

    async def require_bearer(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            return
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
            raise TradeError(ErrorCode.UNAUTHORIZED, "missing or invalid bearer token (Authorization: Bearer <token>)")

    return require_bearer


def api_router(
    service: TradeExecutionService | ServiceFactory | ServiceProvider,
    settings: Settings,
    *,
    token: str | None = None,
) -> APIRouter:
    """The `/v1` trade routes behind the bearer check, for mounting in another FastAPI app.

    The host app must install the error handlers too (`api.errors.install_error_handlers`) to get
    the `{error_code, message, details}` bodies; `create_app` does.
    """
    provider = ServiceProvider.of(service)
    calls = ServiceCalls(provider, settings.api_request_timeout_seconds)
    router = APIRouter()
    guarded = [Depends(bearer_check(token))]
    router.include_router(trade_router(calls), prefix=API_PREFIX, dependencies=guarded)
    router.include_router(market_router(calls), prefix=API_PREFIX, dependencies=guarded)
    return router


def create_app(
    service: TradeExecutionService | ServiceFactory | ServiceProvider | None,
    settings: Settings,
    *,
    routers: Sequence[tuple[APIRouter, str]] = (),
) -> FastAPI:
    """The whole API: health, the `/v1` routes, structured errors, OpenAPI at /openapi.json and /docs."""
    provider = ServiceProvider.of(service if service is not None else default_factory(settings, continuous=True))
    token = api_token(settings)
    redact = Redactor(secret_values(settings))
    app = FastAPI(
        title="tradeexec", version=_version(),
        description="Preview, confirm and execute trades exactly once on Interactive Brokers or SnapTrade.",
    )
    app.state.provider = provider
    app.state.settings = settings
    install_error_handlers(app, redact)

    @app.get(HEALTH_PATH, response_model=Health, tags=["health"])
    async def health() -> Health:
        """Liveness; no database or broker detail, so it needs no token."""
        state = "ready" if provider.built is not None else "starting"
        return Health(status="ok", service=state, version=app.version)

    install_observability(app, provider, bearer_check(token))
    app.include_router(api_router(provider, settings, token=token))
    for router, prefix in routers:
        app.include_router(router, prefix=prefix)
    mount_ui(app, provider.get, settings)  # the operator's confirmation page: its own login, CSRF and Host checks
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradeexec")
    except PackageNotFoundError:
        return "0+local"
