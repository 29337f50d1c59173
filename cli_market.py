"""`tradeexec quote|bars|pnl|account|options`: market data and account analytics in the terminal.

Read-only: these commands need the brokers (BROKERS and their settings) but no database.
`--json` prints the service's result as one JSON document; otherwise a Rich table, and
`bars --chart` adds a small chart of the closes.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.table import Table

from brokers.market_models import AccountPnL, AccountSummary, Bars, OptionChain, Quotes

T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
AccountOption = Annotated[str | None, typer.Option("--account", "-a", help="Account id (default: the only one).")]
CHART_LEVELS = " ▁▂▃▄▅▆▇█"
CHART_ROWS, CHART_WIDTH = 8, 72


def _read(account: str | None, what: str, read: Callable[[Any, str], T]) -> T:
    """Build the reads over the configured brokers, pick the account, run one read, close."""
    from cli import fail, guarded, load_settings, progress
    from services.market_data import MarketDataService
    from services.wiring import build_adapters

    settings = load_settings()
    if not settings.brokers:
        raise fail("no broker configured: set BROKERS (ibkr, snaptrade)", 2)
    service = MarketDataService(settings, build_adapters(settings))
    try:
        with progress(f"reading {what}"):
            chosen = account or guarded(service.single_account)
            return guarded(lambda: read(service, chosen))
    finally:
        service.close()


def _emit(result: BaseModel) -> None:
    from cli import emit_json

    emit_json(result.model_dump(mode="json"))


def _text(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,f}"


def quote(
    tickers: Annotated[list[str], typer.Argument(help="One or more tickers, e.g. AAPL MSFT 'SPY 20251219 500 C'.")],
    account: AccountOption = None, json_output: JsonOption = False,
) -> None:
    """Quotes for several tickers at once; a ticker that fails shows its error, the others still answer."""
    from cli import out

    result: Quotes = _read(account, "quotes", lambda s, a: s.get_quotes(a, tickers))
    if json_output:
        _emit(result)
        return
    table = Table(title=f"quotes ({result.account_id}, {result.provider})")
    for column in ("ticker", "bid", "bid size", "ask", "ask size", "last", "last size", "data", "time"):
        table.add_column(column, justify="left" if column in ("ticker", "data", "time") else "right")
    for outcome in result.quotes:
        q = outcome.quote
        if q is None:
            error = outcome.error or {}
            table.add_row(outcome.ticker, f"[red]{error.get('error_code')}: {error.get('message')}[/red]")
            continue
        table.add_row(q.ticker, _text(q.bid), _text(q.bid_size), _text(q.ask), _text(q.ask_size), _text(q.last),
                      _text(q.last_size), q.market_data.value, q.timestamp.strftime("%H:%M:%S %Z"))
    out.print(table)
    if all(o.quote is None for o in result.quotes):
        raise typer.Exit(1)


def bars(
    ticker: Annotated[str, typer.Argument(help="Ticker, e.g. AAPL.")],
    bar_size: Annotated[str, typer.Option("--bar-size", help="e.g. '5 min', '1 hour', '1 day', 'weekly'.")] = "1 day",
    duration: Annotated[str, typer.Option("--duration", help="e.g. '1 D', '2 W', '1 M', '1 Y'.")] = "1 M",
    what_to_show: Annotated[str, typer.Option("--what", help="TRADES, MIDPOINT, BID, ASK, ...")] = "TRADES",
    rth_only: Annotated[bool, typer.Option("--rth-only/--all-hours", help="Regular trading hours only.")] = True,
    end: Annotated[str | None, typer.Option(help="End (ISO-8601); default now.")] = None,
    chart: Annotated[bool, typer.Option("--chart", help="Also draw a small chart of the closes.")] = False,
    account: AccountOption = None, json_output: JsonOption = False,
) -> None:
    """Historical bars (open, high, low, close, volume) for one ticker."""
    from cli import out

    result: Bars = _read(account, "historical bars", lambda s, a: s.get_historical_bars(
        a, ticker, bar_size, duration, what_to_show, rth_only, end))
    if json_output:
        _emit(result)
        return
    table = Table(title=f"{result.ticker}: {result.count} x {result.bar_size} over {result.duration} "
                        f"({result.what_to_show}, {result.currency})")
    for column in ("time", "open", "high", "low", "close", "volume"):
        table.add_column(column, justify="left" if column == "time" else "right")
    for bar in result.bars[-40:]:
        table.add_row(bar.time.isoformat(), _text(bar.open), _text(bar.high), _text(bar.low), _text(bar.close),
                      _text(bar.volume))
    out.print(table)
    if result.count > 40:
        out.print(f"(the last 40 of {result.count} bars; --json prints them all)")
    if chart:
        out.print(close_chart([bar.close for bar in result.bars]))


def close_chart(closes: list[Decimal], rows: int = CHART_ROWS, width: int = CHART_WIDTH) -> str:
    """A column chart of closes, `rows` lines high, at most `width` columns (sampled evenly)."""
    if not closes:
        return "(no bars)"
    step = max(1, -(-len(closes) // width))
    sampled = closes[::step]
    low, high = min(sampled), max(sampled)
    span = (high - low) or Decimal(1)
    heights = [int((c - low) / span * (rows * 8 - 1)) + 1 for c in sampled]
    lines = []
    for row in range(rows - 1, -1, -1):
        cells = (CHART_LEVELS[min(8, max(0, h - row * 8))] for h in heights)
        label = f"{high:>12,f} ┤" if row == rows - 1 else (f"{low:>12,f} ┤" if row == 0 else " " * 12 + " │")
        lines.append(label + "".join(cells))
    return "\n".join(lines)


def pnl(account: AccountOption = None, json_output: JsonOption = False) -> None:
    """Daily, unrealized and realized P&L of the account and of each position."""
    from cli import out

    result: AccountPnL = _read(account, "P&L", lambda s, a: s.get_pnl(a))
    if json_output:
        _emit(result)
        return
    table = Table(title=f"P&L ({result.account_id}, {result.currency})")
    for column in ("position", "quantity", "value", "daily", "unrealized", "realized"):
        table.add_column(column, justify="left" if column == "position" else "right")
    for p in result.positions:
        table.add_row(p.ticker, _text(p.quantity), _text(p.market_value), _text(p.daily), _text(p.unrealized),
                      _text(p.realized))
    table.add_row("[bold]account[/bold]", "", "", _text(result.daily), _text(result.unrealized),
                  _text(result.realized))
    out.print(table)


def account_status(account: AccountOption = None, json_output: JsonOption = False) -> None:
    """Net liquidation, cash, buying power, excess liquidity and margin, with a line per currency."""
    from cli import out

    result: AccountSummary = _read(account, "the account summary", lambda s, a: s.get_account_summary(a))
    if json_output:
        _emit(result)
        return
    table = Table(title=f"account {result.account_id} ({result.provider}, base {result.currency})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in (("net liquidation", result.net_liquidation), ("cash", result.cash),
                         ("buying power", result.buying_power), ("available funds", result.available_funds),
                         ("excess liquidity", result.excess_liquidity), ("initial margin", result.initial_margin),
                         ("maintenance margin", result.maintenance_margin)):
        table.add_row(label, _text(value))
    out.print(table)
    if result.by_currency:
        ledger = Table(title="by currency")
        for column in ("currency", "cash", "net liquidation", "buying power", "exchange rate"):
            ledger.add_column(column, justify="left" if column == "currency" else "right")
        for c in result.by_currency:
            ledger.add_row(c.currency, _text(c.cash), _text(c.net_liquidation), _text(c.buying_power),
                           _text(c.exchange_rate))
        out.print(ledger)


def options(
    underlying: Annotated[str, typer.Argument(help="Underlying ticker, e.g. SPY.")],
    expiry: Annotated[str | None, typer.Option(help="One expiry (YYYYMMDD) for quotes and greeks.")] = None,
    account: AccountOption = None, json_output: JsonOption = False,
) -> None:
    """Option expiries and strikes; with --expiry, that expiry's contracts with quotes and greeks."""
    from cli import out

    result: OptionChain = _read(account, "the option chain", lambda s, a: s.get_option_chain(a, underlying, expiry))
    if json_output:
        _emit(result)
        return
    out.print(f"{result.underlying} (price {_text(result.underlying_price)}): expiries {', '.join(result.expiries)}")
    out.print(f"strikes: {', '.join(f'{s:f}' for s in result.strikes)}")
    if result.expiry is None:
        return
    table = Table(title=f"{result.underlying} options expiring {result.expiry}")
    for column in ("contract", "bid", "ask", "last", "iv", "delta", "gamma", "theta", "vega", "data"):
        table.add_column(column, justify="left" if column in ("contract", "data") else "right")
    for c in result.contracts:
        g = c.greeks
        table.add_row(c.ticker, _text(c.bid), _text(c.ask), _text(c.last),
                      *(_text(getattr(g, n) if g else None) for n in ("implied_volatility", "delta", "gamma",
                                                                      "theta", "vega")), c.market_data.value)
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(quote)
    app.command()(bars)
    app.command()(pnl)
    app.command("account")(account_status)
    app.command()(options)
