"""`tradeexec preview-modification|execute-modification`: change a working order from the terminal.

The MCP tools' names and discipline (mcp_tools/modification_tools.py): preview the change, show old -> new,
ask the human at the terminal (unless `--yes`), then apply it exactly once. Without a terminal and without
`--yes` nothing is sent (audited); a refusal that needs no human is decided before the question.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from brokers.errors import ErrorCode, TradeError
from cli_orders import JsonOption, orders_table, trade_service

if TYPE_CHECKING:
    import uuid

    from services.modification import ExecutableModification
    from services.modification_view import ModificationView
    from services.trade_execution import TradeExecutionService

def preview_modification(
    order_id: Annotated[str, typer.Argument(help="The order id execute-trade or get_orders printed.")],
    quantity: Annotated[str | None, typer.Option("--quantity", help="New total quantity (more than filled).")] = None,
    limit_price: Annotated[str | None, typer.Option("--limit-price", help="New limit (Limit / StopLimit).")] = None,
    stop_price: Annotated[str | None, typer.Option("--stop-price", help="New stop (Stop / StopLimit).")] = None,
    trailing_amount: Annotated[str | None, typer.Option("--trailing-amount", help="New trailing distance.")] = None,
    trailing_percent: Annotated[str | None, typer.Option("--trailing-percent", help="New trailing %.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Step 1 of 2: check the new terms of a working order; NOTHING changes until execute-modification."""
    from cli import emit_json, guarded, out

    with trade_service() as service:
        view = guarded(lambda: service.preview_modification(
            order_id, quantity=quantity, limit_price=limit_price, stop_price=stop_price,
            trailing_amount=trailing_amount, trailing_percent=trailing_percent))
    if json_output:
        emit_json(view.as_json())
        return
    out.print(_prompt_text(view), highlight=False)
    out.print(f"To apply it: tradeexec execute-modification {view.modification_id}", highlight=False)


def _prompt_text(view: ModificationView) -> str:
    from mcp_tools.modification_tools import prompt

    return prompt(view).removeprefix("Please confirm this change to a working order:\n")


def execute_modification(
    modification_id: Annotated[str, typer.Argument(help="The id preview-modification printed, exactly.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask: the human has already confirmed.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Step 2 of 2: send the previewed change once, after the human confirms it at the terminal."""
    from cli import emit_json, fail, guarded, out
    from services.modification_api import parse_modification_id

    parsed = guarded(lambda: parse_modification_id(modification_id))
    with trade_service() as service:
        found = guarded(lambda: _refused_unless_executable(service, parsed))
        if not yes and not found.simulated:
            if not sys.stdin.isatty():
                error = TradeError(ErrorCode.TRADING_DISABLED, "no terminal to ask the human and no --yes: nothing "
                                   "was changed", {"reason": "confirmation_unavailable",
                                                   "modification_id": str(parsed)})
                service.record_modification_refusal(parsed, error)
                raise fail(f"{error.code.value}: {error.message}")
            out.print(_prompt_text(found.view), highlight=False)
            if not typer.confirm("Apply this change?", default=False, err=True):
                service.record_modification_not_confirmed(parsed, "declined")
                raise fail("CONFIRMATION_DECLINED: declined at the terminal; nothing was changed")
        view = guarded(lambda: service.execute_modification(parsed))
    if json_output:
        emit_json(view.as_json())
        return
    if view.order is not None:
        out.print(orders_table([view.order], f"modification {view.status}"))
    out.print(view.message or view.status, highlight=False)


def _refused_unless_executable(service: TradeExecutionService, modification_id: uuid.UUID) -> ExecutableModification:
    """A refusal that needs no human, audited, before anyone is asked."""
    try:
        return service.executable_modification(modification_id)
    except TradeError as exc:
        service.record_modification_refusal(modification_id, exc)
        raise


def register(app: typer.Typer) -> None:
    app.command("preview-modification")(preview_modification)
    app.command("execute-modification")(execute_modification)
