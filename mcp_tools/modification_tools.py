"""preview_modification and execute_modification: change a working order, confirmed by the human (issue 16).

The confirmation follows execute_trade's rules (mcp_tools/confirmation.py): refusals that need no
human are decided before anyone is asked, a simulation (orders off) is not put to the human,
EXECUTE_CONFIRMATION=never does not ask, =always refuses when the client cannot ask, =auto proceeds
then, and =browser refuses (the operator's page confirms new orders only). The prompt shows every
changed term, old -> new, and the modification id the call then executes.
"""

# No `from __future__ import annotations`: the registry reads these annotations as live objects.

import uuid
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, Elicit
from mcp.server.mcpserver.resolve import AcceptedElicitation, CancelledElicitation
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from brokers.errors import ErrorCode, TradeError
from mcp_tools import arguments as args
from mcp_tools.arguments import _decimal_schema, canonical_id
from mcp_tools.confirmation import NotAsked, client_can_elicit
from mcp_tools.registry import Arg, ArgGroup, Parsed, ToolRegistry, ToolRuntime
from services.modification_terms import ModificationTerms, parse_modification_terms
from services.modification_view import ModificationView
from services.trade_execution import TradeExecutionService

PREVIEW = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
PLACE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
MODIFICATION_TOOLS = ToolRegistry()

BROWSER_ONLY = TradeError(
    ErrorCode.TRADING_DISABLED,
    "EXECUTE_CONFIRMATION=browser: only the operator's /ui page may confirm, and it confirms new orders only. "
    "Nothing was changed; to change this order, cancel it and preview a new one.",
    {"reason": "browser_confirmation_required", "placed": False},
)


class ModificationResult(ModificationView):
    """The published outputSchema: the service's view plus the next step."""

    model_config = ConfigDict(extra="allow", frozen=False)

    next_step: str | None = None


class ConfirmModification(BaseModel):
    confirm: bool = Field(title="Apply this change?",
                          description="Yes sends the change to the broker now; No changes nothing.")


TERMS: dict[str, tuple[Arg, Any]] = {
    "quantity": (Arg(_decimal_schema(
        "The order's new total quantity (filled shares included), more than what has already filled. Leave out "
        "to keep it.", optional=True)), None),
    "limit_price": (Arg(_decimal_schema(
        "New limit price: Limit and StopLimit orders only. Leave out to keep it.", optional=True)), None),
    "stop_price": (Arg(_decimal_schema(
        "New stop (trigger) price: Stop and StopLimit orders only. Leave out to keep it.", optional=True)), None),
    "trailing_amount": (Arg(_decimal_schema(
        "New trailing distance in price units: TrailingStop / TrailingStopLimit orders only (replaces a trailing "
        "percent).", optional=True)), None),
    "trailing_percent": (Arg(_decimal_schema(
        "New trailing distance in percent (0 to 100): TrailingStop / TrailingStopLimit orders only (replaces a "
        "trailing amount).", optional=True)), None),
}
Terms = Annotated[ModificationTerms, ArgGroup(TERMS, parse_modification_terms)]
ModificationId = Annotated[uuid.UUID, Arg({
    "type": "string", "pattern": f"^{args.UUID_TEXT}$",
    "description": "The modification_id returned by preview_modification, exactly as returned, used only after the "
                   "human explicitly confirmed that change. Each modification is applied at most once.",
}, canonical_id)]


def prompt(view: ModificationView) -> str:
    lines = ["Please confirm this change to a working order:", view.summary,
             *(f"  {c['field']}: {c['old'] or 'none'} -> {c['new'] or 'none'}" for c in view.changes),
             f"Modification {view.modification_id}, valid until {view.expires_at:%Y-%m-%d %H:%M:%S} UTC."]
    return "\n".join([*lines, *(f"Warning: {w}" for w in view.warnings)])


class ModificationConfirmer:
    schema = ConfirmModification

    def __init__(self, runtime: ToolRuntime) -> None:
        self.runtime = runtime

    async def ask(self, parsed: Parsed, ctx: Context[Any, Any]) -> Elicit[ConfirmModification] | NotAsked:
        if parsed.error is not None:
            return NotAsked("invalid")
        service = await anyio.to_thread.run_sync(self.runtime.service)
        mode = service.settings.execute_confirmation
        if mode in ("never", "browser"):
            return NotAsked("disabled") if mode == "never" else NotAsked("refused", BROWSER_ONLY)
        try:
            found = await anyio.to_thread.run_sync(lambda: service.executable_modification(
                parsed.values["modification_id"], user_email=parsed.values.get("user_email")))
        except TradeError as exc:
            return NotAsked("refused", exc)
        if found.simulated or not client_can_elicit(ctx):
            return NotAsked("simulated" if found.simulated else "unsupported")
        return Elicit(prompt(found.view), ConfirmModification)


def settle(service: TradeExecutionService, modification_id: uuid.UUID, outcome: Any) -> None:
    """Return when the modification may be executed now; otherwise raise (audited) and change nothing."""
    answer = outcome.data if isinstance(outcome, AcceptedElicitation) else None
    if isinstance(answer, ConfirmModification):
        if answer.confirm:
            return
    elif isinstance(answer, NotAsked):
        refusal = answer.error
        if refusal is None and answer.reason == "unsupported" and service.settings.execute_confirmation == "always":
            refusal = TradeError(ErrorCode.TRADING_DISABLED, "EXECUTE_CONFIRMATION=always and this client cannot show "
                                 "a confirmation prompt: nothing was changed",
                                 {"reason": "confirmation_unavailable", "modification_id": str(modification_id)})
        if refusal is None:
            return
        service.record_modification_refusal(modification_id, refusal)
        raise refusal
    how = "dismissed" if isinstance(outcome, CancelledElicitation) else "declined"
    service.record_modification_not_confirmed(modification_id, how)
    raise TradeError(ErrorCode.CONFIRMATION_DECLINED, f"The human {how} the change: nothing was sent and the order "
                     "keeps its terms. Do not execute this modification unless the human asks you to.",
                     {"modification_id": str(modification_id), "answer": how, "placed": False})


@MODIFICATION_TOOLS.tool("Preview a change to a working order (step 1 of 2)", PREVIEW, output=ModificationResult)
def preview_modification(
    service: TradeExecutionService, order_id: args.OrderId, terms: Terms, user_email: args.UserEmail = None,
) -> dict[str, Any]:
    """Step 1 of 2 for changing a working order (PENDING, ACCEPTED or PARTIAL) in place: its quantity, limit
    price, stop price or trailing distance. Side, ticker, order type and time in force cannot change (cancel and
    preview a new order for that). Give only what changes; quantity is the new TOTAL (more than what has filled).
    Runs the pre-trade checks on the new terms and changes NOTHING. Returns modification_id, old_terms, new_terms,
    changes and a one-line summary: show the summary to the human and get an explicit yes before calling
    execute_modification. Refused without asking anyone: an unknown or finished order (ORDER_NOT_FOUND,
    ORDER_NOT_MODIFIABLE), a field the order type does not use (VALIDATION_ERROR), nothing changed, a broker that
    cannot modify orders (UNSUPPORTED_ORDER: cancel and preview a new order instead)."""
    view = service.preview_modification_parsed(order_id, terms, user_email=user_email)
    return {**view.as_json(), "next_step": "Show this summary to the human. Call execute_modification with this "
                                           "modification_id only after they explicitly confirm this change."}


@MODIFICATION_TOOLS.tool("Apply a confirmed change (step 2 of 2)", PLACE, confirm=ModificationConfirmer,
                         output=ModificationResult)
def execute_modification(service: TradeExecutionService, modification_id: ModificationId, confirmation: Any,
                         user_email: args.UserEmail = None) -> dict[str, Any]:
    """Step 2 of 2: send one previewed change to the broker, exactly once. Call it ONLY after the human has
    explicitly confirmed that change; never as a retry. A second call is refused with ALREADY_EXECUTED. The server
    may ask the human to confirm; if they decline, nothing changes (CONFIRMATION_DECLINED). status APPLIED: the
    broker confirmed the new terms (order shows them). simulated=true: orders are off, nothing was sent; say so.
    status UNKNOWN: the change may have been applied; check get_order_status and do not execute again. A change
    can race a fill."""
    settle(service, modification_id, confirmation)
    return service.execute_modification(modification_id, user_email=user_email).as_json()
