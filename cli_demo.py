"""`tradeexec demo`: the whole flow on simulators, with nothing to install or configure.

An embedded PostgreSQL in a throw-away directory, the IB Gateway and SnapTrade
simulators in this process, and one paper account on each broker walked through
accounts -> quote -> preview -> execute -> status -> cancel, plus a refused order (risk
limit) and a duplicate execute. The environment is ignored on purpose: a demo must never
pick up a real DATABASE_URL or broker credentials.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from rich.console import Console
from rich.table import Table

from brokers.errors import ErrorCode, TradeError
from brokers.models import FINAL_STATUSES, OrderStatus
from services.results import OrderView, PreviewView
from services.trade_execution import TradeExecutionService
from settings import Settings

DEMO_NOTIONAL_LIMIT = "5000"
REFUSED_QUANTITY = 50  # 50 x ~190 exceeds the limit but not the paper accounts' cash
IBKR_DEMO_ACCOUNT = "DU1234567"
TICKER = "AAPL"


class DemoSettings(Settings):
    """Settings built only from what the demo passes in: no environment, no .env."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class Walkthrough:
    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        started = time.monotonic()
        with self.err.status(message, spinner="dots"):
            yield
        self.err.print(f"[green]✓[/green] {message} [dim]({time.monotonic() - started:.1f}s)[/dim]")

    def heading(self, text: str) -> None:
        self.out.rule(f"[bold]{text}[/bold]")

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("-" if cell is None else str(cell) for cell in row))
        self.out.print(table)

    def expect_refusal(self, label: str, code: ErrorCode, action: Callable[[], Any]) -> TradeError:
        try:
            action()
        except TradeError as exc:
            mark = "[green]refused as expected[/green]" if exc.code is code else "[red]refused unexpectedly[/red]"
            self.out.print(f"{label}: {mark} [bold]{exc.code.value}[/bold]: {exc.message}")
            if exc.code is not code:
                raise
            return exc
        raise AssertionError(f"{label}: expected {code.value}, but it was accepted")


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _settle(service: TradeExecutionService, order: OrderView, seconds: float = 8.0) -> OrderView:
    """Market orders fill asynchronously at a real gateway: poll briefly for a final status."""
    deadline = time.monotonic() + seconds
    while OrderStatus(order.status) not in FINAL_STATUSES and time.monotonic() < deadline:
        time.sleep(0.2)
        order = service.get_order_status(order.order_id)
    return order


def _preview_rows(view: PreviewView) -> list[list[Any]]:
    return [
        ["summary", view.summary], ["preview_id", view.preview_id],
        ["estimated price", _money(view.estimated_price)], ["commission", _money(view.estimated_commission)],
        ["estimated total", _money(view.estimated_total)], ["expires", f"{view.expires_at:%H:%M:%S} UTC"],
        ["warnings", "; ".join(view.warnings) or "none"],
    ]


def _order_row(label: str, order: OrderView) -> list[Any]:
    return [label, order.status, order.brokerage_order_id, order.filled_quantity.normalize(),
            _money(order.average_fill_price), order.order_id]


def walk_account(demo: Walkthrough, service: TradeExecutionService, account_id: str, broker: str) -> None:
    demo.heading(f"{broker}: account {account_id}")
    quote = service.get_quote(account_id, TICKER)
    demo.table(f"quote {TICKER}", ["bid", "ask", "last"], [[quote.bid, quote.ask, quote.last]])

    preview = service.preview_trade(account_id, TICKER, "BUY", 5)
    demo.table("preview (what the human confirms)", ["field", "value"], _preview_rows(preview))
    order = _settle(service, service.execute_trade(preview.preview_id))
    demo.expect_refusal("execute the same preview again", ErrorCode.ALREADY_EXECUTED,
                        lambda: service.execute_trade(preview.preview_id))

    price = (quote.reference_price or Decimal(100)) * Decimal("0.5")
    limit = price.quantize(Decimal("0.01"))
    resting = service.preview_trade(account_id, TICKER, "BUY", 2, "Limit", limit, None, "GTC")
    working = service.execute_trade(resting.preview_id)
    status = service.get_order_status(working.order_id)
    canceled = service.cancel_order(working.order_id)
    demo.table("orders", ["step", "status", "broker id", "filled", "avg price", "order_id"], [
        _order_row("market BUY 5 executed", order),
        _order_row(f"limit BUY 2 @ {resting.limit_price} placed", working),
        _order_row("status of the limit order", status),
        _order_row("cancel the limit order", canceled),
    ])
    demo.expect_refusal(f"BUY {REFUSED_QUANTITY} {TICKER} (MAX_ORDER_NOTIONAL={DEMO_NOTIONAL_LIMIT})",
                        ErrorCode.RISK_LIMIT,
                        lambda: service.preview_trade(account_id, TICKER, "BUY", REFUSED_QUANTITY))


def walk_bracket(demo: Walkthrough, service: TradeExecutionService, account_id: str, broker: str) -> None:
    """A bracket (issue 16): one preview and one execute for an entry, a take-profit and a stop-loss."""
    demo.heading(f"{broker}: a bracket order (entry + take-profit + stop-loss)")
    quote = service.get_quote(account_id, TICKER)
    entry = (quote.ask or quote.reference_price or Decimal(100)).quantize(Decimal("0.01"))
    take_profit, stop_loss = (entry * Decimal("1.03")).quantize(Decimal("0.01")), (
        entry * Decimal("0.97")).quantize(Decimal("0.01"))
    if broker != "ibkr":
        demo.expect_refusal(f"bracket at {broker}", ErrorCode.UNSUPPORTED_ORDER, lambda: service.preview_trade(
            account_id, TICKER, "BUY", 3, "Limit", entry, take_profit_price=take_profit, stop_loss_price=stop_loss))
        return
    preview = service.preview_trade(account_id, TICKER, "BUY", 3, "Limit", entry, None, "GTC",
                                    take_profit_price=take_profit, stop_loss_price=stop_loss)
    demo.table("bracket preview: every leg the human confirms", ["role", "side", "type", "quantity", "price",
                                                                  "est. notional"],
               [[leg["role"], leg["side"], leg["order_type"], leg["quantity"], leg["limit_price"] or leg["stop_price"],
                 leg["estimated_notional"]] for leg in preview.legs])
    demo.out.print(f"summary: {preview.summary}", highlight=False)
    placed = service.execute_trade(preview.preview_id)
    ids = placed.order_ids or []
    deadline = time.monotonic() + 8
    while service.get_order_status(ids[0]).status != OrderStatus.EXECUTED and time.monotonic() < deadline:
        time.sleep(0.2)  # the marketable entry fills; its exits then start working
    working = [o.order for o in service.get_orders_status(ids).orders if o.order is not None]
    cancelled = service.cancel_order(ids[0])
    legs = {leg["order_id"]: leg for leg in cancelled.legs or []}
    demo.table("bracket legs", ["role", "order_id", "after execute", "after cancel_order(entry)"],
               [[o.leg_role, o.order_id, o.status, legs.get(o.order_id, {}).get("status")] for o in working])


def run(out: Console, err: Console, *, keep: bool = False) -> int:
    """The demo; returns the exit code."""
    demo = Walkthrough(out, err)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    for noisy in ("ib_async", "brokers"):  # broker chatter (order-cancel notices, disconnects at exit)
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    data_dir = Path(tempfile.mkdtemp(prefix="tradeexec-demo-"))
    with ExitStack() as stack:
        stack.callback(_cleanup, data_dir, keep, err)
        try:
            service, accounts = _start(demo, stack, data_dir)
            _walk(demo, service, accounts)
        except TradeError as exc:
            err.print(f"[red]demo failed:[/red] {exc.code.value}: {exc.message}")
            return 1
        except Exception as exc:  # a demo reports and exits non-zero rather than dumping a trace
            err.print(f"[red]demo failed:[/red] {type(exc).__name__}: {exc}")
            return 1
    out.print("[bold green]demo complete[/bold green]: every order above went to a simulator, none to a real broker.")
    return 0


def _start(demo: Walkthrough, stack: ExitStack, data_dir: Path) -> tuple[TradeExecutionService, dict[str, str]]:
    from db.engine import database_url
    from mcp_tools.runtime import prepare_database
    from services.wiring import build_service
    from simulators.ib_gateway import IBGatewaySimulator
    from simulators.snaptrade import SnapTradeSimulator

    with demo.step("starting the embedded PostgreSQL"):
        base = DemoSettings(DATABASE_URL=None, TRADEEXEC_DATA_DIR=data_dir)
        database_url(base)
    with demo.step("running the migrations"):
        prepare_database(base, migrate=True)
    with demo.step("starting the IB Gateway and SnapTrade simulators"):
        gateway = IBGatewaySimulator(port=0, accounts=(IBKR_DEMO_ACCOUNT,))
        gateway.start()
        stack.callback(gateway.close)
        snaptrade = SnapTradeSimulator().start()
        stack.callback(snaptrade.stop)
        seeded = snaptrade.seed_demo()
    settings = DemoSettings(
        DATABASE_URL=None, TRADEEXEC_DATA_DIR=data_dir, BROKERS="ibkr,snaptrade",
        IBKR_GATEWAY_HOST="127.0.0.1", IBKR_GATEWAY_PORT=gateway.port, IBKR_CLIENT_ID=7,
        SNAPTRADE_BASE_URL=snaptrade.base_url, SNAPTRADE_CLIENT_ID=seeded["client_id"],
        SNAPTRADE_CONSUMER_KEY=seeded["consumer_key"], SNAPTRADE_USER_ID=seeded["user_id"],
        SNAPTRADE_USER_SECRET=seeded["user_secret"], TRADING_MODE="paper", ORDERS_ENABLED=True,
        MAX_ORDER_NOTIONAL=DEMO_NOTIONAL_LIMIT, EXECUTE_CONFIRMATION="never",
    )
    with demo.step("connecting to both brokers"):
        service = build_service(settings)
        stack.callback(service.close)
        service.list_tradeable_accounts()
    return service, {"ibkr": IBKR_DEMO_ACCOUNT, "snaptrade": seeded["accounts"]["paper"]}


def _walk(demo: Walkthrough, service: TradeExecutionService, accounts: dict[str, str]) -> None:
    demo.heading("tradeable accounts")
    rows = [[a.provider.value, a.account_id, a.name, a.currency, "paper" if a.is_paper else "LIVE"]
            for a in service.list_tradeable_accounts()]
    demo.table("list_tradeable_accounts", ["broker", "account", "name", "currency", "kind"], rows)
    for broker, account_id in accounts.items():
        walk_account(demo, service, account_id, broker)
        walk_bracket(demo, service, account_id, broker)
    orders = [o for account_id in accounts.values() for o in service.get_orders(account_id)]
    demo.heading("orders of the demo accounts (ours and any placed elsewhere)")
    demo.table("get_orders", ["broker", "account", "order", "status", "filled"],
               [[o.broker_provider, o.account_id, f"{o.side} {o.quantity.normalize() if o.quantity else '?'} "
                 f"{o.ticker} {o.order_type}", o.status, o.filled_quantity.normalize()] for o in orders])


def _cleanup(data_dir: Path, keep: bool, err: Console) -> None:
    if keep:
        err.print(f"demo database kept in {data_dir} (its PostgreSQL server is still running)")
        return
    from db.embedded import stop_embedded_server

    try:
        stop_embedded_server(data_dir)
    except Exception as exc:
        err.print(f"[yellow]could not stop the demo PostgreSQL: {type(exc).__name__}[/yellow]")
    shutil.rmtree(data_dir, ignore_errors=True)
