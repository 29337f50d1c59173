"""`tradeexec preview-trade|execute-trade|get-orders-status|cancel-orders`: orders from the terminal.

The same preview -> confirm -> execute-once discipline as the MCP tools, with the same names:
options are the tool arguments (`--account-id`, `--limit-price`, ...). `execute-trade` asks the
human at the terminal unless `--yes`; without a terminal and without `--yes` it refuses (audited)
and places nothing. Every refusal that needs no human is decided before the question is asked.
`--json` prints the service's result as one JSON document.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from brokers.errors import ErrorCode, TradeError

if TYPE_CHECKING:
    from services.order_sets import OrdersResult
    from services.results import OrderView, PreviewView
    from services.trade_execution import TradeExecutionService

T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
OrderIds = Annotated[list[str], typer.Argument(help="Order ids exactly as execute-trade or get_orders returned them.")]


@contextmanager
def trade_service(*, reconcile: bool = False) -> Iterator[TradeExecutionService]:
    """The service over the configured database and brokers; closed afterwards."""
    from cli import fail, guarded, load_settings, progress
    from mcp_tools.runtime import prepare_database
    from services.wiring import build_service

    settings = load_settings()
    if not settings.brokers:
        raise fail("no broker configured: set BROKERS (ibkr, snaptrade)", 2)
    with progress("connecting to the database and the brokers"):
        guarded(lambda: prepare_database(settings))
        service = guarded(lambda: build_service(settings, reconcile_on_start=reconcile))
    try:
        yield service
    finally:
        service.close()


def preview_trade(
    account_id: Annotated[str, typer.Option("--account-id", help="Account id from list_tradeable_accounts.")],
    ticker: Annotated[str, typer.Option("--ticker", help="Ticker, e.g. AAPL.")],
    side: Annotated[str, typer.Option("--side", help="BUY or SELL.")],
    quantity: Annotated[str, typer.Option("--quantity", help="How many units (decimal).")],
    order_type: Annotated[str, typer.Option("--order-type", help="Market, Limit, Stop, StopLimit, TrailingStop, "
                                            "TrailingStopLimit, MarketOnClose, MarketOnOpen.")] = "Market",
    limit_price: Annotated[str | None, typer.Option("--limit-price", help="Limit / StopLimit.")] = None,
    stop_price: Annotated[str | None, typer.Option("--stop-price", help="Stop / StopLimit trigger.")] = None,
    time_in_force: Annotated[str, typer.Option("--time-in-force", help="Day, GTC, IOC or FOK.")] = "Day",
    trailing_amount: Annotated[str | None, typer.Option("--trailing-amount")] = None,
    trailing_percent: Annotated[str | None, typer.Option("--trailing-percent")] = None,
    trail_stop_price: Annotated[str | None, typer.Option("--trail-stop-price")] = None,
    limit_offset: Annotated[str | None, typer.Option("--limit-offset")] = None,
    oca_group: Annotated[str | None, typer.Option("--oca-group", help="One-cancels-all group name.")] = None,
    outside_rth: Annotated[bool, typer.Option("--outside-rth", help="May fill outside regular hours.")] = False,
    take_profit_price: Annotated[str | None, typer.Option(
        "--take-profit-price", help="Makes the order the entry of a bracket: the take-profit limit.")] = None,
    stop_loss_price: Annotated[str | None, typer.Option(
        "--stop-loss-price", help="Makes the order the entry of a bracket: the stop-loss trigger.")] = None,
    sec_type: Annotated[str | None, typer.Option("--sec-type", help="STK (default), FUT or OPT.")] = None,
    exchange: Annotated[str | None, typer.Option("--exchange", help="Listing exchange, e.g. LSE, CME, CBOE.")] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="Listing currency, e.g. GBP.")] = None,
    expiry: Annotated[str | None, typer.Option("--expiry", help="FUT: YYYYMM (none: front month); OPT: YYYYMMDD.")]
    = None,
    strike: Annotated[str | None, typer.Option("--strike", help="OPT: strike price.")] = None,
    right: Annotated[str | None, typer.Option("--right", help="OPT: C or P.")] = None,
    multiplier: Annotated[str | None, typer.Option("--multiplier", help="FUT/OPT: multiplier to insist on.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Step 1 of 2: validate, run the risk checks and ask the broker for an estimate; NOTHING is placed.

    Futures and options (IBKR): --ticker /ES (front month), 'MES 202612', /MESZ6, or the root with --sec-type FUT;
    an option by its OCC symbol or --sec-type OPT --expiry --strike --right (see preview_trade's description)."""
    from cli import emit_json, guarded, out

    options = {
        "sec_type": sec_type, "exchange": exchange, "currency": currency, "expiry": expiry, "strike": strike,
        "right": right, "multiplier": multiplier,
        "trailing_amount": trailing_amount, "trailing_percent": trailing_percent,
        "trail_stop_price": trail_stop_price, "limit_offset": limit_offset, "oca_group": oca_group,
        "outside_rth": outside_rth or None, "take_profit_price": take_profit_price,
        "stop_loss_price": stop_loss_price,
    }
    with trade_service() as service:
        view = guarded(lambda: service.preview_trade(
            account_id, ticker, side, quantity, order_type, limit_price, stop_price, time_in_force,
            **{k: v for k, v in options.items() if v is not None}))
    if json_output:
        emit_json(view.as_json())
        return
    out.print(preview_text(view), highlight=False)
    out.print(f"To place it: tradeexec execute-trade {view.preview_id}", highlight=False)


def preview_text(view: PreviewView) -> str:
    """What the human reads before confirming: the summary (every leg of a set), validity and warnings."""
    from mcp_tools.confirmation import confirmation_message

    return confirmation_message(view).removeprefix("Please confirm this order:\n")


def execute_trade(
    preview_id: Annotated[str, typer.Argument(help="The preview id preview-trade printed, exactly as printed.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask: the human has already confirmed.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Step 2 of 2: place the previewed order exactly once, after the human confirms it at the terminal."""
    from cli import emit_json, fail, guarded, out
    from services.execution_gate import parse_preview_id

    parsed = guarded(lambda: parse_preview_id(preview_id))
    with trade_service(reconcile=True) as service:
        executable = guarded(lambda: _refused_unless_executable(service, parsed))
        if not yes and not executable.simulated:
            if not sys.stdin.isatty():
                error = TradeError(ErrorCode.TRADING_DISABLED, "no terminal to ask the human and no --yes: "
                                   "nothing was placed", {"reason": "confirmation_unavailable",
                                                          "preview_id": str(parsed)})
                service.record_execute_refusal(parsed, error)
                raise fail(f"{error.code.value}: {error.message}")
            out.print(preview_text(executable.preview), highlight=False)
            if not typer.confirm("Place this order?", default=False, err=True):
                service.record_not_confirmed(parsed, "declined")
                raise fail("CONFIRMATION_DECLINED: declined at the terminal; nothing was placed")
        view = guarded(lambda: service.execute_order(parsed))
    if json_output:
        emit_json(_order_json(view))
        return
    from services.results import OrderView

    legs = [OrderView.model_validate(leg) for leg in view.legs or []]  # a bracket: every leg
    out.print(orders_table(legs or [view], "order set" if legs else "order"))
    if view.message:
        out.print(view.message, highlight=False)


def _refused_unless_executable(service: TradeExecutionService, preview_id: uuid.UUID) -> Any:
    """A refusal that needs no human, audited, before anyone is asked (an expired preview is re-quoted)."""
    try:
        return service.executable_preview(preview_id)
    except TradeError as exc:
        if exc.code is ErrorCode.PREVIEW_EXPIRED:
            raise  # execute_order answers it with a fresh preview; the CLI shows the error
        service.record_execute_refusal(preview_id, exc)
        raise


def get_orders_status(order_ids: OrderIds, json_output: JsonOption = False) -> None:
    """The status of each order (exit 1 when any could not be read)."""
    _each(lambda service: service.get_orders_status(order_ids), "status", json_output)


def cancel_orders(order_ids: OrderIds, json_output: JsonOption = False) -> None:
    """Cancel each order on its own (a bracket's entry cancels its whole set); exit 1 when any was not."""
    _each(lambda service: service.cancel_orders(order_ids), "cancel", json_output)


def _each(call: Callable[[TradeExecutionService], OrdersResult], what: str, json_output: bool) -> None:
    from cli import emit_json, guarded, out

    with trade_service() as service:
        result = guarded(lambda: call(service))
    if json_output:
        emit_json(result.as_json())
    else:
        views = [o.order for o in result.orders if o.order is not None]
        if views:
            out.print(orders_table(views, what))
        for outcome in result.orders:
            if outcome.error is not None:
                out.print(f"{outcome.order_id}: {outcome.error['error_code']}: {outcome.error['message']}",
                          highlight=False)
    if result.failed:
        raise typer.Exit(1)


def _order_json(view: OrderView) -> dict[str, Any]:
    from mcp_tools.results import order_payload

    return order_payload(view)


def orders_table(views: list[OrderView], title: str) -> Table:
    table = Table(title=title)
    for column in ("order_id", "role", "ticker", "side", "qty", "type", "status", "filled", "avg price"):
        table.add_column(column, justify="right" if column in ("qty", "filled", "avg price") else "left")
    for v in views:
        table.add_row(v.order_id or "-", v.leg_role or "-", v.ticker or "-", v.side or "-",
                      _text(v.quantity), v.order_type or "-", v.status, _text(v.filled_quantity),
                      _text(v.average_fill_price))
    return table


def _text(value: Decimal | None) -> str:
    return "-" if value is None else format(value, "f")


def register(app: typer.Typer) -> None:
    app.command("preview-trade")(preview_trade)
    app.command("execute-trade")(execute_trade)
    app.command("get-orders-status")(get_orders_status)
    app.command("cancel-orders")(cancel_orders)
