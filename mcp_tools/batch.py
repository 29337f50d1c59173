"""execute_trades: one confirmation for a basket, then each leg exactly once (services/contract_api.py).

The human sees every leg that would be placed; legs that cannot be placed now (expired, already
executed, unknown) are listed as such, so the answer covers exactly what will happen.
"""

# No `from __future__ import annotations`: the registry reads these annotations as live objects.

import uuid
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, Elicit
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp_types import ToolAnnotations
from pydantic import ConfigDict

from brokers.errors import ErrorCode, TradeError
from mcp_tools.arguments import UserEmail, canonical_id_list
from mcp_tools.confirmation import (
    Confirmer,
    ConfirmOrder,
    NotAsked,
    client_can_elicit,
    human_answer,
    service_to_ask,
    unasked_refusal,
)
from mcp_tools.registry import Arg, Parsed, ToolRegistry
from services.confirmation import BasketLeg
from services.contract_api import MAX_BATCH_LEGS
from services.reports import BatchResult
from services.trade_execution import TradeExecutionService


class BatchToolResult(BatchResult):
    """The published outputSchema: the service's batch result plus the legs that were placed."""

    model_config = ConfigDict(extra="allow", frozen=False)

    placed_legs: list[str]


BROWSER_ONLY = TradeError(
    ErrorCode.TRADING_DISABLED,
    "EXECUTE_CONFIRMATION=browser: only the operator's /ui page can confirm an order, and it confirms one preview "
    "at a time. Execute each leg with execute_trade and ask the human to confirm it on the page; nothing was placed.",
    {"reason": "browser_confirmation_required", "placed": False},
)
"""Without this the basket tool would take a client's (a model's) yes where only the page may give one."""

PLACE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
BATCH_TOOLS = ToolRegistry()


def preview_id_list(name: str, value: Any) -> list[uuid.UUID]:
    """The legs as canonical ids, in order, each once."""
    return canonical_id_list(name, value, MAX_BATCH_LEGS, "preview ids")


PreviewIds = Annotated[list[uuid.UUID], Arg({
    "type": "array", "minItems": 1, "maxItems": MAX_BATCH_LEGS,
    "items": {"type": "string", "minLength": 36, "maxLength": 36},
    "description": "The preview_ids of every leg of the basket (from preview_trade), used only after the human "
                   "explicitly confirmed those exact previews. Each leg is placed at most once.",
}, preview_id_list)]


def leg_lines(legs: list[BasketLeg]) -> list[str]:
    """The prompt's lines: every leg, and what will happen to it."""
    lines: list[str] = []
    for number, leg in enumerate(legs, 1):
        if leg.preview is None:
            lines.append(f"{number}. unknown preview {leg.preview_id}: nothing placed")
        elif leg.state == "used":
            lines.append(f"{number}. {leg.preview.summary}: already {leg.status}, not placed again")
        elif leg.state == "expired":
            lines.append(f"{number}. {leg.preview.summary}: EXPIRED, will be re-quoted, not placed")
        else:
            lines.append(f"{number}. {leg.preview.summary}")
    return lines


class BatchConfirmer(Confirmer):
    """The execute_trades confirmation step: one prompt for the whole basket."""

    async def ask(self, parsed: Parsed, ctx: Context[Any, Any]) -> Elicit[ConfirmOrder] | NotAsked:
        service = await service_to_ask(self.runtime, parsed)
        if isinstance(service, NotAsked):
            return service
        if service.settings.execute_confirmation == "browser":
            return NotAsked("refused", BROWSER_ONLY)
        try:
            reason = service.settings.trading_block_reason()
            if reason:
                return NotAsked("refused", TradeError(ErrorCode.TRADING_DISABLED, reason))
            legs = await anyio.to_thread.run_sync(lambda: service.executable_previews(
                parsed.values["preview_ids"], user_email=parsed.values.get("user_email")))
        except TradeError as exc:
            return NotAsked("refused", exc)
        lines, executable = leg_lines(legs), sum(1 for leg in legs if leg.state == "executable")
        if executable == 0 or not service.settings.orders_enabled:
            return NotAsked("simulated" if executable else "refused")
        if not client_can_elicit(ctx):
            return NotAsked("unsupported")
        header = f"Please confirm this basket: {executable} order(s) will be placed, each once."
        return Elicit("\n".join([header, *lines]), ConfirmOrder)


def _settle(service: TradeExecutionService, preview_ids: list[uuid.UUID], outcome: Any) -> None:
    """Return when the basket may go ahead; otherwise raise, audited per leg, with nothing placed."""
    answer = outcome.data if isinstance(outcome, AcceptedElicitation) else None
    if isinstance(answer, NotAsked):
        error = unasked_refusal(answer, service.settings, {})
        if error is not None:
            for preview_id in preview_ids:
                service.record_execute_refusal(preview_id, error)
            raise error
        return
    if isinstance(answer, ConfirmOrder) and answer.confirm:
        return
    how = human_answer(outcome)
    for preview_id in preview_ids:
        service.record_not_confirmed(preview_id, how)
    raise TradeError(ErrorCode.CONFIRMATION_DECLINED, f"The human {how} the basket: no order was placed.",
                     {"preview_ids": [str(p) for p in preview_ids], "answer": how, "placed": False})


@BATCH_TOOLS.tool("Execute a basket of confirmed previews", PLACE, confirm=BatchConfirmer, output=BatchToolResult)
def execute_trades(
    service: TradeExecutionService, preview_ids: PreviewIds, confirmation: Any, user_email: UserEmail = None,
) -> dict[str, Any]:
    """Execute several confirmed previews as one basket (best effort per leg). Call it ONLY after the human has
    explicitly confirmed every leg's summary. Each leg is placed at most once; one leg's refusal does not stop the
    others. status: completed (every leg placed), partial, failed (none placed), or needs_confirmation (some
    previews had expired: reprieved_legs gives each new_preview_id and its figures, which the human must confirm
    again before it is executed with execute_trade or execute_trades). Nothing expired is ever placed."""
    _settle(service, preview_ids, confirmation)
    result = service.execute_orders([str(p) for p in preview_ids], user_email=user_email).as_json()
    result["placed_legs"] = [leg["preview_id"] for leg in result["legs"] if leg["status"] == "placed"]
    return result
