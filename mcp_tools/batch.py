"""execute_trades: one confirmation for a basket, then each leg exactly once (services/contract_api.py).

The human sees every leg that would be placed; legs that cannot be placed now (expired, already
executed, unknown) are listed as such, so the answer covers exactly what will happen.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, Elicit
from pydantic import WithJsonSchema

from brokers.errors import ErrorCode, TradeError
from mcp_tools.confirmation import ConfirmOrder, NotAsked, client_can_elicit
from mcp_tools.runtime import ServiceProvider
from services.contract_api import MAX_BATCH_LEGS
from services.order_store import utcnow
from services.results import BatchResult, PreviewView
from services.trade_execution import TradeExecutionService

log = logging.getLogger(__name__)

PreviewIds = Annotated[Any, WithJsonSchema({
    "type": "array", "minItems": 1, "maxItems": MAX_BATCH_LEGS,
    "items": {"type": "string", "pattern": "^[0-9a-fA-F-]{32,36}$"},
    "description": "The preview_ids of every leg of the basket (from preview_trade), used only after the human "
                   "explicitly confirmed those exact previews. Each leg is placed at most once.",
})]


def preview_id_list(value: Any) -> list[str]:
    """The legs as canonical UUID strings, in order, each once."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_BATCH_LEGS:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"preview_ids must be a list of 1 to {MAX_BATCH_LEGS} ids",
                         {"field": "preview_ids"})
    ids: list[str] = []
    for position, item in enumerate(value):
        try:
            text = str(uuid.UUID(str(item)[:64]))
        except ValueError:
            raise TradeError(ErrorCode.VALIDATION_ERROR, f"preview_ids[{position}] is not a valid preview id",
                             {"field": f"preview_ids[{position}]"}) from None
        if text not in ids:
            ids.append(text)
    return ids


def batch_payload(result: BatchResult) -> dict[str, Any]:
    payload = result.as_json()
    payload["placed_legs"] = [leg["preview_id"] for leg in payload["legs"] if leg["status"] == "placed"]
    return payload


def _leg_lines(service: TradeExecutionService, preview_ids: list[str]) -> tuple[list[str], int]:
    lines: list[str] = []
    executable = 0
    store = service.store
    with store.session_factory() as session:
        for number, raw in enumerate(preview_ids, 1):
            row = store.get_preview(session, uuid.UUID(raw))
            if row is None:
                lines.append(f"{number}. unknown preview {raw}: nothing placed")
            elif store.order_for_preview(session, row.id) is not None or row.status != "ACTIVE":
                lines.append(f"{number}. {PreviewView.of(row).summary}: already {row.status}, not placed again")
            elif row.expires_at <= utcnow():
                lines.append(f"{number}. {PreviewView.of(row).summary}: EXPIRED, will be re-quoted, not placed")
            else:
                executable += 1
                lines.append(f"{number}. {PreviewView.of(row).summary}")
    return lines, executable


class BatchConfirmer:
    def __init__(self, provider: ServiceProvider) -> None:
        self.provider = provider

    async def ask(self, preview_ids: Any, ctx: Context) -> Elicit[ConfirmOrder] | NotAsked:
        try:
            service = await anyio.to_thread.run_sync(self.provider.get)
            ids = preview_id_list(preview_ids)
        except TradeError as exc:
            return NotAsked("unavailable", exc)
        if service.settings.execute_confirmation == "never":
            return NotAsked("disabled")
        try:
            lines, executable = await anyio.to_thread.run_sync(_leg_lines, service, ids)
        except Exception:
            log.exception("could not load the basket to confirm")
            return NotAsked("unavailable", TradeError(ErrorCode.INTERNAL_ERROR, "could not load the previews"))
        if executable == 0:
            return NotAsked("not_executable")
        if not client_can_elicit(ctx):
            return NotAsked("unsupported")
        header = f"Please confirm this basket: {executable} order(s) will be placed, each once."
        if not service.settings.orders_enabled:
            lines.append("ORDERS_ENABLED is off: orders are recorded as SIMULATED, nothing is sent to the broker.")
        return Elicit("\n".join([header, *lines]), ConfirmOrder)
