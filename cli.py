"""`tradeexec`: the demo, the MCP server, schema migrations, health checks, reconciliation, simulators.

Human-readable tables and progress go to the terminal (progress on stderr); `--json`
prints one JSON document on stdout for scripts. Exit codes: 0 ok, 1 a check or
operation failed, 2 bad configuration or usage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from brokers.errors import TradeError
from settings import Settings

T = TypeVar("T")

app = typer.Typer(
    name="tradeexec", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Trade execution on Interactive Brokers and SnapTrade: preview, confirm, execute exactly once.",
)
sim_app = typer.Typer(no_args_is_help=True, help="Run a broker simulator in the foreground (Ctrl-C stops it).")
app.add_typer(sim_app, name="sim")

out = Console()
err = Console(stderr=True, soft_wrap=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]


class TransportChoice(StrEnum):
    STDIO = "stdio"
    HTTP = "http"


def load_settings() -> Settings:
    """Settings from the environment and .env; a bad value stops here, naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        for problem in exc.errors(include_url=False, include_input=False):
            name = ".".join(str(part) for part in problem["loc"]).upper()
            err.print(f"[red]configuration error[/red] {name}: {problem['msg']}")
        raise typer.Exit(2) from None


def start_logging(settings: Settings) -> None:
    """Structured logs on stderr (LOG_FORMAT), every configured secret redacted; METRICS_PORT if set."""
    from mcp_tools.results import Redactor
    from mcp_tools.runtime import secret_values
    from telemetry.logs import configure_logging
    from telemetry.metrics import serve_metrics_port

    configure_logging(settings.log_format, Redactor(secret_values(settings)))
    if settings.metrics_port is not None:
        serve_metrics_port(settings.metrics_port)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner on stderr for anything that may take a while (it disappears when done)."""
    with err.status(message, spinner="dots"):
        yield


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def guarded(action: Callable[[], T]) -> T:
    """Structured errors become one clear line and exit 1, never a stack trace."""
    try:
        return action()
    except TradeError as exc:
        raise fail(f"{exc.code.value}: {exc.message}") from None


def database_url_for(settings: Settings) -> str:
    from db.engine import database_url

    with progress("starting the embedded PostgreSQL" if settings.database_url is None else "connecting"):
        return database_url(settings)


# --- demo, MCP, bench ----------------------------------------------------------------------


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep the demo database directory and leave its server running.")] = False,
) -> None:
    """Embedded PostgreSQL, both simulators and the whole flow on one IBKR and one SnapTrade paper account."""
    import cli_demo

    raise typer.Exit(cli_demo.run(out, err, keep=keep))


@app.command()
def mcp(
    transport: Annotated[TransportChoice, typer.Option(help="stdio for a local client, http for a network one.")] = (
        TransportChoice.STDIO
    ),
    host: Annotated[str, typer.Option(help="HTTP bind address; anything but loopback needs MCP_AUTH_TOKEN.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port (0 picks a free one).")] = 8000,
) -> None:
    """Serve the trade tools over MCP (stdio by default, or streamable HTTP)."""
    from mcp_tools.auth import AuthConfigurationError
    from mcp_tools.server import serve

    settings = load_settings()
    try:
        start_logging(settings)
        serve(settings, transport.value, host=host, port=port)
    except AuthConfigurationError as exc:
        raise fail(str(exc), 2) from None
    except OSError as exc:
        where = f"{host}:{port}" if transport is TransportChoice.HTTP else "stdio"
        raise fail(f"cannot serve on {where}: {exc.strerror or exc}", 2) from None
    except KeyboardInterrupt:
        pass


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Bind address; anything but loopback needs API_AUTH_TOKEN.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port (0 picks a free one).")] = 8080,
) -> None:
    """Serve the trade service over HTTP (FastAPI): OpenAPI at /docs, routes under /v1."""
    from api.server import serve as serve_api
    from mcp_tools.auth import AuthConfigurationError

    settings = load_settings()
    try:
        start_logging(settings)
        serve_api(settings, host=host, port=port)
    except AuthConfigurationError as exc:
        raise fail(str(exc), 2) from None
    except OSError as exc:
        raise fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}", 2) from None
    except KeyboardInterrupt:
        pass


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="Small N and 10^4 rows only (about a minute).")] = False,
    only: Annotated[str, typer.Option(help="Comma-separated figure names.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Benchmarks (not tests): ratios and counts against baselines measured in the same run."""
    try:
        import bench as benchmarks
    except ImportError:
        benchmarks = None  # type: ignore[assignment]
    run_all = getattr(benchmarks, "run_all", None)
    if run_all is None:
        raise fail("benchmarks are not available in this build (bench.run_all is missing)")
    selected = [name.strip() for name in only.split(",") if name.strip()] or None
    try:
        result = run_all(quick=quick, only=selected)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    if json_output:
        emit_json(result)
    else:
        from bench.report import render

        render(result, out)


# --- operations ----------------------------------------------------------------------------


@app.command()
def healthcheck(
    json_output: JsonOption = False,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for each broker.")] = 15.0,
) -> None:
    """Check the database and every configured broker; exit 1 with a clear message when one is down."""
    from mcp_tools.health import health_checks

    settings = load_settings()
    with progress("checking the database and the brokers"):
        checks = health_checks(settings, timeout)
    healthy = all(c["status"] != "down" for c in checks)
    if json_output:
        emit_json({"healthy": healthy, "checks": checks})
    else:
        table = Table(title="tradeexec health")
        for column in ("component", "status", "detail"):
            table.add_column(column)
        colors = {"ok": "green", "down": "red", "warning": "yellow"}
        for check in checks:
            color = colors.get(check["status"], "white")
            table.add_row(check["component"], f"[{color}]{check['status']}[/{color}]", check["detail"])
        out.print(table)
    if not healthy:
        down = ", ".join(c["component"] for c in checks if c["status"] == "down")
        raise fail(f"unhealthy: {down}")


@app.command()
def reconcile(json_output: JsonOption = False) -> None:
    """Settle orders left SUBMITTING/UNKNOWN by asking the brokers (exit 2 while some stay unknown)."""
    from mcp_tools.runtime import prepare_database
    from services.wiring import build_service

    settings = load_settings()
    with progress("connecting to the database and the brokers"):
        guarded(lambda: prepare_database(settings))
        service = guarded(lambda: build_service(settings, reconcile_on_start=False))
    try:
        with progress("reconciling orders with the brokers"):
            report = guarded(lambda: service.reconcile(include_active=True))
    finally:
        service.close()
    if json_output:
        emit_json(report.as_json())
    else:
        table = Table(title=f"reconciliation: {report.examined} order(s) examined")
        table.add_column("order")
        table.add_column("outcome")
        for order_id, status in report.settled.items():
            table.add_row(order_id, f"settled: {status}")
        for order_id in report.failed:
            table.add_row(order_id, "[red]FAILED (not found at the broker)[/red]")
        for order_id in report.still_unknown:
            table.add_row(order_id, "[yellow]still unknown: run again later[/yellow]")
        for order_id, change in report.corrected.items():
            table.add_row(order_id, f"[yellow]corrected by the broker's evidence: {change}[/yellow]")
        for order_id, flag in report.flagged.items():
            table.add_row(order_id, f"[red]needs a person: {flag} (evidence in trade_events)[/red]")
        for problem in report.errors:
            table.add_row(str(problem.get("order_id", "-")), f"[red]{problem.get('message', problem)}[/red]")
        out.print(table)
    if report.errors:
        raise typer.Exit(1)
    if report.still_unknown:
        raise typer.Exit(2)


@app.command()
def replay(
    since: Annotated[str | None, typer.Option(help="Only requests recorded at or after this ISO time.")] = None,
    account: Annotated[str | None, typer.Option(help="Only requests for this account.")] = None,
    scratch_url: Annotated[str | None, typer.Option(help="Scratch database URL (default: embedded, temporary).")] = (
        None
    ),
    tolerance: Annotated[float, typer.Option(min=0, help="Estimated totals may differ by this fraction.")] = 0.01,
    json_output: JsonOption = False,
) -> None:
    """Replay recorded previews/executes on the simulators and a scratch database; exit 1 on differences."""
    import uuid as uuid_module
    from datetime import datetime
    from decimal import Decimal

    import cli_replay

    settings = load_settings()
    try:
        start = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise fail(f"--since must be an ISO date or time, got {since!r}", 2) from None
    if start is not None and start.tzinfo is None:
        from datetime import UTC

        start = start.replace(tzinfo=UTC)
    with progress("reading the recorded requests"):
        requests = guarded(lambda: cli_replay.recorded(settings, start, account))

    def is_ibkr(account_id: str) -> bool:
        try:
            uuid_module.UUID(account_id)
            return False
        except ValueError:
            return True

    ibkr = settings.ibkr_accounts or tuple(sorted({
        str(r.terms["account_id"]) for r in requests if r.kind == "preview" and is_ibkr(str(r.terms.get("account_id")))
    }))
    with progress(f"replaying {len(requests)} request(s) on the simulators"):
        report = guarded(lambda: cli_replay.run_replay(requests, ibkr, scratch_url, Decimal(str(tolerance))))
    if json_output:
        emit_json(report.as_json())
    else:
        cli_replay.render(report, out)
    if report.differences:
        raise typer.Exit(1)


# --- simulators ----------------------------------------------------------------------------


@sim_app.command("ib-gateway")
def sim_ib_gateway(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TWS API port (4002 = paper gateway).")] = 4002,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    accounts: Annotated[str, typer.Option(help="Comma-separated paper account ids.")] = "DU1234567",
) -> None:
    """IB Gateway simulator speaking the TWS API socket protocol."""
    from simulators.ib_gateway.cli import main as run_gateway

    raise typer.Exit(run_gateway(["--host", host, "--port", str(port), "--accounts", accounts]))


@sim_app.command("snaptrade")
def sim_snaptrade(
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
) -> None:
    """SnapTrade API simulator, seeded with demo accounts; prints the settings to connect with."""
    from simulators.snaptrade import serve as run_snaptrade

    run_snaptrade(port=port, host=host)


def main() -> None:
    import cli_db
    import cli_market
    import cli_modify
    import cli_orders

    app.add_typer(cli_db.db_app, name="db")
    cli_market.register(app)
    cli_orders.register(app)
    cli_modify.register(app)
    app(prog_name="tradeexec")


if __name__ == "__main__":
    main()
