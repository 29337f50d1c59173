"""Asking the human, not the LLM, to confirm an order before execute_trade places it.

Elicitation goes through the SDK's resolver mechanism, which picks the transport the
connection negotiated (a mid-call `elicitation/create` request on handshake-era
connections, an input-required round trip on 2026-07-28 ones). EXECUTE_CONFIRMATION
decides what happens when the client cannot ask: `auto` proceeds (the tool description
already requires the LLM to have shown the preview), `always` refuses.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context, Elicit
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError

from brokers.errors import ErrorCode, TradeError
from mcp_tools.runtime import ServiceProvider
from services.approvals import ApprovalDesk, ApprovalView
from services.order_store import utcnow
from services.results import PreviewView
from services.trade_execution import TradeExecutionService

log = logging.getLogger(__name__)

INPUT_REQUIRED_VERSION = "2026-07-28"


class ConfirmOrder(BaseModel):
    """The form the human answers."""

    confirm: bool = Field(title="Place this order?", description="Yes places the order now; No places nothing.")


@dataclass(frozen=True)
class NotAsked:
    """The resolver decided not to ask; `error` is set when it could not even tell whether to."""

    reason: Literal["disabled", "unsupported", "not_executable", "unavailable", "browser"]
    error: TradeError | None = None
    approval: ApprovalView | None = None
    """EXECUTE_CONFIRMATION=browser: the approval recorded for the human's decision on the /ui page."""


def client_can_elicit(ctx: Context[Any, Any]) -> bool:
    """Form elicitation declared by the client, and a way to deliver it on this connection."""
    try:
        capabilities = ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        if elicitation is None or (elicitation.form is None and elicitation.url is not None):
            return False
        version = ctx.protocol_version
        if version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION):
            return True
        return bool(ctx.session.can_send_request)
    except (ValueError, AttributeError):
        return False  # no request context: called in-process, nobody to ask


def confirmation_message(view: PreviewView, *, simulated: bool) -> str:
    lines = [
        "Please confirm this order:",
        view.summary,
        f"Preview {view.preview_id}, valid until {view.expires_at:%Y-%m-%d %H:%M:%S} UTC.",
    ]
    lines.extend(f"Warning: {w}" for w in view.warnings)
    if simulated:
        lines.append("ORDERS_ENABLED is off: the order will be recorded as SIMULATED, nothing is sent to the broker.")
    return "\n".join(lines)


class OrderConfirmer:
    """The execute_trade resolver: decides whether to ask, and what to show."""

    def __init__(self, provider: ServiceProvider) -> None:
        self.provider = provider

    async def ask(self, preview_id: Any, ctx: Context) -> Elicit[ConfirmOrder] | NotAsked:
        try:
            service = await anyio.to_thread.run_sync(self.provider.get)
        except TradeError as exc:
            return NotAsked("unavailable", exc)
        if service.settings.execute_confirmation == "never":
            return NotAsked("disabled")
        if service.settings.execute_confirmation == "browser":
            return await ask_in_browser(service, preview_id, ctx)
        try:
            view = await anyio.to_thread.run_sync(_executable_preview, service, preview_id)
        except OperationalError:
            log.exception("database unavailable while loading the preview to confirm")
            error = TradeError(ErrorCode.DATABASE_UNAVAILABLE, "the database is not reachable; nothing was done")
            return NotAsked("unavailable", error)
        except Exception:
            log.exception("could not load the preview to confirm")
            return NotAsked("unavailable", TradeError(ErrorCode.INTERNAL_ERROR, "could not load the preview"))
        if view is None:
            return NotAsked("not_executable")  # execute_trade itself reports why, precisely
        if not client_can_elicit(ctx):
            return NotAsked("unsupported")
        message = confirmation_message(view, simulated=not service.settings.orders_enabled)
        return Elicit(message, ConfirmOrder)


def _executable_preview(service: TradeExecutionService, raw_preview_id: Any) -> PreviewView | None:
    """The preview if it could be executed now; None when execute_trade would refuse it anyway.

    Refusals are permanent (previews never become active again), so not asking in that
    case cannot let an unconfirmed order through.
    """
    try:
        preview_id = uuid.UUID(str(raw_preview_id))
    except ValueError:
        return None
    store = service.store
    with store.session_factory() as session:
        row = store.get_preview(session, preview_id)
        if row is None or row.status != "ACTIVE" or row.expires_at <= utcnow():
            return None
        if store.order_for_preview(session, preview_id) is not None:
            return None
        return PreviewView.of(row)


def refusal_without_confirmation() -> TradeError:
    return TradeError(
        ErrorCode.TRADING_DISABLED,
        "EXECUTE_CONFIRMATION=always and this client cannot show a confirmation prompt: no order was placed",
        {"reason": "confirmation_unavailable"},
    )


# --- EXECUTE_CONFIRMATION=browser: the human decides on the /ui page, never through the model ----------------
def approval_url(settings_base: str, approval: ApprovalView) -> str:
    return f"{settings_base.rstrip('/')}/approvals/{approval.approval_id}"


def client_can_open_url(ctx: Context[Any, Any]) -> bool:
    """URL-mode elicitation declared by the client, on a connection that can send it mid-call."""
    try:
        capabilities = ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        return elicitation is not None and elicitation.url is not None and bool(ctx.session.can_send_request)
    except (ValueError, AttributeError):
        return False


async def ask_in_browser(service: TradeExecutionService, raw_preview_id: Any, ctx: Context) -> NotAsked:
    """Record the request for the operator; ask a capable client to open the page. Never places anything."""
    try:
        preview_id = uuid.UUID(str(raw_preview_id))
    except ValueError:
        return NotAsked("not_executable")  # execute_trade reports the malformed id itself
    try:
        approval = await anyio.to_thread.run_sync(ApprovalDesk(service).request, preview_id)
    except TradeError as exc:
        return NotAsked("unavailable", exc)
    if approval.status == "PENDING" and client_can_open_url(ctx):
        url = approval_url(service.settings.ui_base_url, approval)
        message = f"Open the confirmation page to confirm or decline: {approval.preview.summary}"
        try:
            await ctx.elicit_url(message, url, approval.approval_id)
        except Exception as exc:  # the page works without the prompt; the URL is in the result too
            log.warning("URL elicitation failed: %s", type(exc).__name__)
    return NotAsked("browser", approval=approval)


def browser_answer(approval: ApprovalView, ui_base_url: str) -> dict[str, Any]:
    """What execute_trade says while the decision is the human's (an order, once there is one, is reported
    by the caller through the usual order payload)."""
    url = approval_url(ui_base_url, approval)
    base = {"preview_id": approval.preview.preview_id, "approval_id": approval.approval_id, "placed": False,
            "confirmation_url": url}
    if approval.status == "PENDING":
        return {**base, "status": "AWAITING_CONFIRMATION", "expires_at": approval.expires_at.isoformat(),
                "message": (
                    f"Nothing has been placed. The human must open {url}, log in with the operator token and "
                    "press Confirm or Decline there; you cannot confirm for them. Tell them so. Afterwards call "
                    "execute_trade with the same preview_id to learn the outcome: it never places a second order."
                )}
    if approval.status == "DECLINED":
        return {**base, "status": "NOT_CONFIRMED",
                "message": "The human declined this order on the confirmation page: nothing was placed."}
    if approval.status == "EXPIRED":
        raise TradeError(ErrorCode.PREVIEW_EXPIRED, "the preview expired before the human confirmed it; nothing "
                         "was placed. Preview the trade again if the human still wants it.", base)
    if approval.outcome_code is not None:
        raise TradeError(ErrorCode(approval.outcome_code), approval.outcome_message or "the order was refused",
                         base)
    return {**base, "status": "CONFIRMED", "message": "The human confirmed; the order is being placed. "
            "Call execute_trade with the same preview_id again shortly for its status."}
