"""The /ui routes: log in, see what awaits a decision, confirm or decline, watch orders, stop trading.

Endpoints are plain `def`s: FastAPI runs them on its thread pool, where the synchronous
service belongs. Every POST passes the same three checks before anything else happens:
the operator's session cookie, the CSRF token bound to it, and this page's origin.
"""

# No `from __future__ import annotations`: FastAPI reads these endpoints' annotations (the local
# Operator dependency included) as live objects.

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from brokers.errors import ErrorCode, TradeError
from services.approvals import ApprovalDesk
from services.trade_execution import TradeExecutionService
from settings import Settings
from webui.operator import LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECONDS, OperatorGate, OperatorSession
from webui.pages import Pages

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).parent / "ui.js"
ServiceGetter = Callable[[], TradeExecutionService]
REFUSAL_STATUS = {
    ErrorCode.ALREADY_EXECUTED: 409, ErrorCode.PREVIEW_EXPIRED: 409, ErrorCode.VALIDATION_ERROR: 409,
    ErrorCode.PREVIEW_NOT_FOUND: 404, ErrorCode.TRADING_DISABLED: 423, ErrorCode.DATABASE_UNAVAILABLE: 503,
}


class Refused(Exception):
    """A request stopped at the door: rendered as a page with this status, nothing done."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def ui_router(get_service: ServiceGetter, settings: Settings) -> APIRouter:
    """The confirmation page as a router; include it in any FastAPI app (`app.include_router(ui_router(...))`)."""
    token = settings.operator_token.get_secret_value() if settings.operator_token is not None else None
    gate = OperatorGate(token, settings.ui_base_url)
    pages = Pages(gate.path)
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def desk() -> ApprovalDesk:
        return ApprovalDesk(get_service())

    def door(request: Request) -> None:
        """Every /ui request: the configured host only, and nothing at all without OPERATOR_TOKEN."""
        if not gate.host_allowed(request):
            raise Refused(421, "This page is served only at the address in UI_BASE_URL.")
        if not gate.enabled:
            raise Refused(503, "OPERATOR_TOKEN is not set: this page confirms nothing. "
                               "Set OPERATOR_TOKEN (16+ random characters) and restart.")

    def refusal_of(request: Request, session: OperatorSession | None, csrf: str) -> Refused | None:
        try:
            door(request)
        except Refused as refused:
            return refused
        if not gate.origin_allowed(request):
            return Refused(403, "Refused: this request did not come from the confirmation page. Nothing was done.")
        if session is None:
            return Refused(401, "Refused: not logged in (or the session expired). Nothing was done.")
        if not gate.csrf_valid(session, csrf):
            return Refused(403, "Refused: the form's security token is missing or wrong. Nothing was done.")
        return None

    def operator(request: Request, csrf: Annotated[str, Form()] = "") -> OperatorSession:
        """The checks of every state-changing request; a refusal is audited (no service is built without a token)."""
        session = gate.session(request)
        refused = refusal_of(request, session, csrf)
        if refused is None and session is not None:
            return session
        refused = refused or Refused(401, "Refused: not logged in. Nothing was done.")
        if gate.enabled:
            desk().record_page_refusal(refused.message, path=request.url.path, status=refused.status,
                                       operator_session=session.session_id if session else None,
                                       client=request.client.host if request.client else None)
        raise refused

    Operator = Annotated[OperatorSession, Depends(operator)]

    def viewer(request: Request) -> OperatorSession | None:
        door(request)
        return gate.session(request)

    def login_page(request: Request, message: str | None = None, status: int = 200) -> Response:
        nonce, form_token = gate.new_login_nonce()
        response = pages.render("login.html", status, next=_safe_next(request, gate.path), message=message,
                                login_token=form_token)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=900, path=gate.path, httponly=True, samesite="strict",
                            secure=gate.secure_cookies)
        return response

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        session = viewer(request)
        if session is None:
            return login_page(request)
        approvals = desk()
        return pages.render("dashboard.html", 200, session=session, pending=approvals.pending(),
                            decided=approvals.decided(), orders=_recent_orders(get_service()),
                            kill_switch=_kill_switch(get_service()))

    @router.get("/approvals/{approval_id}", response_class=HTMLResponse)
    def approval_page(request: Request, approval_id: str) -> Response:
        session = viewer(request)
        if session is None:
            return login_page(request)
        try:
            approval = desk().get(approval_id)
        except TradeError as exc:
            return pages.message(404 if exc.code is ErrorCode.PREVIEW_NOT_FOUND else 503, exc.message)
        return pages.render("approval.html", 200, session=session, approval=approval)

    @router.post("/login")
    def login(request: Request, token: Annotated[str, Form()] = "", login_token: Annotated[str, Form()] = "",
              next: Annotated[str, Form()] = "") -> Response:
        door(request)
        client = request.client.host if request.client else None
        if not gate.origin_allowed(request) or not gate.login_form_valid(request, login_token):
            desk().record_login(None, accepted=False, client=client)
            return login_page(request, "The login form expired or came from elsewhere; try again.", 403)
        if not gate.token_matches(token):
            desk().record_login(None, accepted=False, client=client)
            return login_page(request, "Wrong operator token.", 401)
        session_id, cookie = gate.new_session_cookie()
        desk().record_login(session_id, accepted=True, client=client)
        target = next if next.startswith(gate.path) and not next.startswith("//") else gate.path + "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_SECONDS, path=gate.path, httponly=True,
                            samesite="strict", secure=gate.secure_cookies)
        response.delete_cookie(LOGIN_COOKIE, path=gate.path)
        return response

    @router.post("/logout")
    def logout(session: Operator) -> Response:
        response = RedirectResponse(gate.path + "/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=gate.path)
        return response

    def decide(session: OperatorSession, approval_id: str, action: Callable[[ApprovalDesk], Any]) -> Response:
        approvals = desk()
        try:
            approval = action(approvals)
        except TradeError as exc:
            try:
                current = approvals.get(approval_id)
            except TradeError:
                return pages.message(REFUSAL_STATUS.get(exc.code, 409), exc.message)
            return pages.render("approval.html", REFUSAL_STATUS.get(exc.code, 409), session=session,
                                approval=current, error=exc)
        return RedirectResponse(f"{gate.path}/approvals/{approval.approval_id}", status_code=303)

    @router.post("/approvals/{approval_id}/confirm")
    def confirm(approval_id: str, session: Operator) -> Response:
        return decide(session, approval_id, lambda d: d.confirm(approval_id, session.session_id))

    @router.post("/approvals/{approval_id}/decline")
    def decline(approval_id: str, session: Operator) -> Response:
        return decide(session, approval_id, lambda d: d.decline(approval_id, session.session_id))

    @router.post("/approvals/{approval_id}/repreview")
    def repreview(approval_id: str, session: Operator) -> Response:
        return decide(session, approval_id, lambda d: d.repreview(approval_id, session.session_id))

    @router.post("/kill-switch")
    def kill_switch(session: Operator) -> Response:
        try:
            message = desk().halt_trading(session.session_id)
        except TradeError as exc:
            return pages.message(409, exc.message)
        return pages.message(200, message, title="Trading stopped")

    @router.get("/ui.js")
    def script(request: Request) -> Response:
        if not gate.host_allowed(request):
            raise Refused(421, "wrong host")
        return Response(SCRIPT.read_text(encoding="utf-8"), media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})

    @router.get("/fragments/orders", response_class=HTMLResponse)
    def orders_fragment(request: Request) -> Response:
        if viewer(request) is None:
            return pages.message(401, "Not logged in.")
        return pages.render("_orders.html", 200, orders=_recent_orders(get_service()))

    return router


def mount_ui(app: FastAPI, get_service: ServiceGetter, settings: Settings) -> None:
    """Serve the confirmation page under /ui of `app` (the `tradeexec api` app, or the platform's own)."""
    app.include_router(ui_router(get_service, settings))
    pages = Pages(OperatorGate(None, settings.ui_base_url).path)

    async def refused(_request: Request, exc: Exception) -> Response:
        status, message = (exc.status, exc.message) if isinstance(exc, Refused) else (500, "internal error")
        return pages.message(status, message, title="Refused")

    app.add_exception_handler(Refused, refused)


def _safe_next(request: Request, base: str) -> str:
    path = request.url.path
    return path if path.startswith(base) else base + "/"


def _recent_orders(service: TradeExecutionService) -> list[Any]:
    try:
        return ApprovalDesk(service).recent_orders()
    except TradeError as exc:
        log.warning("recent orders unavailable: %s", exc.message)
        return []


def _kill_switch(service: TradeExecutionService) -> dict[str, Any]:
    settings = service.settings
    return {"blocked": settings.trading_block_reason(), "available": settings.trading_kill_switch_file is not None,
            "orders_enabled": settings.orders_enabled, "mode": settings.trading_mode.value}
