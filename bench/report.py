"""A readable table of a run_all() result; the JSON is the record, this is for people."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def render(result: dict[str, Any], console: Console | None = None) -> None:
    """One table per figure: metric, value, baseline, ratio; unmeasured figures say why."""
    console = console or Console()
    meta = result.get("meta", {})
    console.print(f"[bold]tradeexec bench[/bold]  mode={meta.get('mode')}  started={meta.get('started_at')}  "
                  f"cpus={meta.get('cpus')}  postgres={meta.get('postgres')}  took={meta.get('seconds')}s")
    for name, figure in result.get("figures", {}).items():
        title = figure.get("title", name)
        if not figure.get("measured"):
            console.print(f"[yellow]{name}: not measured[/yellow] - {figure.get('reason')}")
            continue
        table = Table(title=f"{name}: {title}", title_justify="left", show_lines=False)
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("baseline", justify="right")
        table.add_column("ratio", justify="right")
        for row in figure.get("rows", []):
            table.add_row(str(row["metric"]), _cell(row.get("value")), _cell(row.get("baseline")),
                          _cell(row.get("ratio")))
        console.print(table)
        for note in figure.get("notes", []):
            console.print(f"  [dim]{note}[/dim]")
