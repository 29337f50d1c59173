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
from services.confirmation import Answer
from services.results import PreviewView
from services.trade_execution import TradeExecutionService

log = logging.getLogger(__name__)

INPUT_REQUIRED_VERSION = "2026-07-28"


class ConfirmOrder(BaseModel):
    """The form the human answers."""

    confirm: bool = Field(title="Place this order?", description="Yes places the order now; No places nothing.")


@dataclass(frozen=True)
class NotAsked:
    """Nobody was asked, and why; `error` is the refusal execute_trade answers with, decided beforehand."""

    reason: Literal["disabled", "unsupported", "simulated", "refused", "invalid"]
    error: TradeError | None = None


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


class OrderConfirmer:
    """The execute_trade confirmation step: decides whether to ask, and what to show."""

    schema = ConfirmOrder

    def __init__(self, runtime: ToolRuntime) -> None:
        self.runtime = runtime

    async def ask(self, parsed: Parsed, ctx: Context[Any, Any]) -> Elicit[ConfirmOrder] | NotAsked:
        if parsed.error is not None:
            return NotAsked("invalid")
        try:
            service = await anyio.to_thread.run_sync(self.runtime.service)
            if service.settings.execute_confirmation == "never":
                return NotAsked("disabled")
            executable = await anyio.to_thread.run_sync(service.executable_preview, parsed.values["preview_id"])
        except TradeError as exc:
            return NotAsked("refused", exc)
        if executable.simulated:
            return NotAsked("simulated")
        if not client_can_elicit(ctx):
            return NotAsked("unsupported")
        return Elicit(confirmation_message(executable.preview), ConfirmOrder)


def require_confirmation(service: TradeExecutionService, preview_id: uuid.UUID, outcome: Any) -> None:
    """Return only when this preview may be executed now; otherwise raise (audited) and place nothing."""
    answer = outcome.data if isinstance(outcome, AcceptedElicitation) else None
    if isinstance(answer, NotAsked):
        error = answer.error
        if answer.reason == "unsupported" and service.settings.execute_confirmation == "always":
            error = TradeError(
                ErrorCode.TRADING_DISABLED,
                "EXECUTE_CONFIRMATION=always and this client cannot show a confirmation prompt: no order was placed",
                {"reason": "confirmation_unavailable", "preview_id": str(preview_id)},
            )
        if error is not None:
            service.record_execute_refusal(preview_id, error)
            raise error
        return
    if isinstance(answer, ConfirmOrder) and answer.confirm:
        return
    how: Answer = "dismissed" if isinstance(outcome, CancelledElicitation) else "declined"
    service.record_not_confirmed(preview_id, how)
    said = "closed the confirmation prompt without answering" if how == "dismissed" else "declined the order"
    raise TradeError(
        ErrorCode.CONFIRMATION_DECLINED,
        f"The human {said}: no order was placed. The preview stays valid until it expires; do not execute it "
        "again unless the human asks you to.",
        {"preview_id": str(preview_id), "answer": how, "placed": False},
    )
