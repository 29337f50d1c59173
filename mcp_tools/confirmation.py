"""Asking the human, not the model, to confirm an order before execute_trade places it.

The question is asked about the preview id parsed once at the tool edge, and execute_trade
places that same id object, so what the human confirms is what executes. Refusals that need
no human (kill switch, paper mode and a live account, an unknown, used or expired preview)
are decided before anyone is asked, and so is a simulation (ORDERS_ENABLED off: nothing can
reach a broker). Elicitation goes through the SDK's resolver mechanism, which picks the
transport the connection negotiated. EXECUTE_CONFIRMATION decides what happens when the
client cannot ask: `auto` proceeds (the tool description already requires the model to have
shown the preview), `always` refuses (audited), `never` does not ask.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context, Elicit
from mcp.server.mcpserver.resolve import AcceptedElicitation, CancelledElicitation
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from brokers.errors import ErrorCode, TradeError
from mcp_tools.registry import Parsed, ToolRuntime
from mcp_tools.results import order_payload
from services.approvals import ApprovalDesk, ApprovalView
from services.confirmation import Answer
from services.results import PreviewView
from services.trade_execution import TradeExecutionService
from settings import Settings

log = logging.getLogger(__name__)

INPUT_REQUIRED_VERSION = "2026-07-28"


class ConfirmOrder(BaseModel):
    """The form the human answers."""

    confirm: bool = Field(title="Place this order?", description="Yes places the order now; No places nothing.")


@dataclass(frozen=True)
class NotAsked:
    """Nobody was asked, and why; `error` is the refusal execute_trade answers with, decided beforehand."""

    reason: Literal["disabled", "unsupported", "simulated", "refused", "invalid", "browser"]
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


def confirmation_message(view: PreviewView) -> str:
    lines = [
        "Please confirm this order:",
        view.summary,
        f"Preview {view.preview_id}, valid until {view.expires_at:%Y-%m-%d %H:%M:%S} UTC.",
    ]
    lines.extend(f"Warning: {w}" for w in view.warnings)
    return "\n".join(lines)


async def service_to_ask(runtime: ToolRuntime, parsed: Parsed) -> TradeExecutionService | NotAsked:
    """The service to confirm with, or why nobody is asked: invalid arguments, the service not starting
    (a refusal), EXECUTE_CONFIRMATION=never."""
    if parsed.error is not None:
        return NotAsked("invalid")
    try:
        service = await anyio.to_thread.run_sync(runtime.service)
    except TradeError as exc:
        return NotAsked("refused", exc)
    return NotAsked("disabled") if service.settings.execute_confirmation == "never" else service


def unasked_refusal(answer: NotAsked, settings: Settings, details: dict[str, Any]) -> TradeError | None:
    """The refusal an execute answers with when nobody was asked (None: it may go ahead)."""
    if answer.reason == "unsupported" and settings.execute_confirmation == "always":
        return TradeError(
            ErrorCode.TRADING_DISABLED,
            "EXECUTE_CONFIRMATION=always and this client cannot show a confirmation prompt: no order was placed",
            {"reason": "confirmation_unavailable", **details},
        )
    return answer.error


def human_answer(outcome: Any) -> Answer:
    """What a 'no' was: the prompt closed without an answer, or declined."""
    return "dismissed" if isinstance(outcome, CancelledElicitation) else "declined"


class Confirmer:
    """A tool's confirmation step, built by the registry with the tool runtime; `ask` decides whether to ask
    the human, and what to show."""

    schema = ConfirmOrder

    def __init__(self, runtime: ToolRuntime) -> None:
        self.runtime = runtime


class OrderConfirmer(Confirmer):
    """The execute_trade confirmation step."""

    async def ask(self, parsed: Parsed, ctx: Context[Any, Any]) -> Elicit[ConfirmOrder] | NotAsked:
        service = await service_to_ask(self.runtime, parsed)
        if isinstance(service, NotAsked):
            return service
        try:
            if service.settings.execute_confirmation == "browser":
                return await ask_in_browser(service, parsed.values["preview_id"], ctx)
            executable = await anyio.to_thread.run_sync(
                lambda: service.executable_preview(parsed.values["preview_id"],
                                                   user_email=parsed.values.get("user_email")))
        except TradeError as exc:
            return NotAsked("refused", exc)
        if executable.simulated:
            return NotAsked("simulated")
        if not client_can_elicit(ctx):
            return NotAsked("unsupported")
        return Elicit(confirmation_message(executable.preview), ConfirmOrder)


def settle_confirmation(service: TradeExecutionService, preview_id: uuid.UUID, outcome: Any) -> dict[str, Any] | None:
    """None when this preview may be executed now; the answer to give instead while the human decides on the
    /ui page; otherwise raise (audited) and place nothing."""
    answer = outcome.data if isinstance(outcome, AcceptedElicitation) else None
    if isinstance(answer, NotAsked) and answer.approval is not None:  # EXECUTE_CONFIRMATION=browser
        placed = answer.approval.order
        if placed is not None:
            return order_payload(service.get_order_status(uuid.UUID(placed.order_id)))
        return browser_answer(answer.approval, service.settings.ui_base_url)
    if isinstance(answer, NotAsked):
        error = answer.error
        if error is not None and error.code is ErrorCode.PREVIEW_EXPIRED:
            return None  # execute_order places nothing and answers with a fresh preview to confirm
        error = unasked_refusal(answer, service.settings, {"preview_id": str(preview_id)})
        if error is not None:
            service.record_execute_refusal(preview_id, error)
            raise error
        return None
    if isinstance(answer, ConfirmOrder) and answer.confirm:
        return None
    how = human_answer(outcome)
    service.record_not_confirmed(preview_id, how)
    said = "closed the confirmation prompt without answering" if how == "dismissed" else "declined the order"
    raise TradeError(
        ErrorCode.CONFIRMATION_DECLINED,
        f"The human {said}: no order was placed. The preview stays valid until it expires; do not execute it "
        "again unless the human asks you to.",
        {"preview_id": str(preview_id), "answer": how, "placed": False},
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


async def ask_in_browser(service: TradeExecutionService, preview_id: uuid.UUID, ctx: Context[Any, Any]) -> NotAsked:
    """Record the request for the operator; ask a capable client to open the page. Never places anything."""
    try:
        approval = await anyio.to_thread.run_sync(ApprovalDesk(service).request, preview_id)
    except TradeError as exc:
        return NotAsked("refused", exc)
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
