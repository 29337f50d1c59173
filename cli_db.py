"""`tradeexec db upgrade|downgrade|current|stamp`: the schema (the Alembic branch 'trade_execution').

Every failure is one actionable line and an exit code (1: database down, 2: refused), never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from cli import JsonOption, database_url_for, emit_json, err, fail, load_settings, out, progress

T = TypeVar("T")

db_app = typer.Typer(no_args_is_help=True, help="Database schema (the Alembic branch 'trade_execution').")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "trade_execution@head",
    json_output: JsonOption = False,
) -> None:
    """Apply migrations up to REVISION (default: the newest).

    A database that already holds the platform's SnapTrade-era tables (and no record of this
    branch) is adopted first: differences are reported, safe fixes applied, unsafe ones refused.
    """
    from db import migrate

    url = database_url_for(load_settings())
    with progress(f"upgrading to {revision}"):
        adopted = schema_change(lambda: migrate.upgrade_or_adopt(url, revision))
    if adopted is not None and not json_output:
        out.print(f"adopted the existing tables ({adopted.variant} variant); "
                  f"{len(adopted.differences)} difference(s) from te0001:")
        for line in adopted.differences:
            out.print(f"  - {line}", highlight=False)
    report_revision(url, json_output, adopted.as_json() if adopted is not None else None)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. te0001, or 'base' to drop everything.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask (downgrades drop columns and data).")] = False,
    json_output: JsonOption = False,
) -> None:
    """Revert migrations down to REVISION. Destructive: asks first unless --yes."""
    from db import migrate

    if not yes:
        if not sys.stdin.isatty():
            from db import migrate

            doomed = schema_change(lambda: migrate.rows_deleted_by_downgrade(
                database_url_for(load_settings()), revision))
            counted = "".join(f", {n} {t} row(s)" for t, n in doomed.items())
            raise fail(f"a downgrade drops columns and data{counted}: pass --yes to confirm; nothing changed")
        if not typer.confirm(f"Downgrade to {revision}? Columns and data above it are dropped.", err=True):
            raise fail("not confirmed; nothing changed")
    url = database_url_for(load_settings())
    doomed = schema_change(lambda: migrate.rows_deleted_by_downgrade(url, revision))
    if doomed:
        err.print("this downgrade deletes " + ", ".join(f"{n} {t} row(s)" for t, n in doomed.items()),
                  highlight=False)
    with progress(f"downgrading to {revision}"):
        schema_change(lambda: migrate.downgrade(url, revision))
    report_revision(url, json_output)


@db_app.command("current")
def db_current(json_output: JsonOption = False) -> None:
    """Show the applied revision and the one this version needs (exit 1 when they differ)."""
    from db import migrate
    from mcp_tools.runtime import schema_head

    url = database_url_for(load_settings())
    current = schema_change(lambda: migrate.current_revision(url))
    head = schema_head()
    if json_output:
        emit_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        state = "[green]up to date[/green]" if current == head else "[yellow]run `tradeexec db upgrade`[/yellow]"
        out.print(f"current {current or 'none'}, head {head}: {state}")
    if current != head:
        raise typer.Exit(1)


@db_app.command("stamp")
def db_stamp(
    revision: Annotated[str, typer.Argument(help="Revision to record, e.g. te0001.")],
    json_output: JsonOption = False,
) -> None:
    """Record REVISION as applied without running it (an existing SnapTrade-era schema stamps te0001)."""
    from db import migrate

    url = database_url_for(load_settings())
    schema_change(lambda: migrate.stamp(url, revision))
    report_revision(url, json_output)
    if not json_output:
        out.print("next: `tradeexec db upgrade`")


def schema_change(action: Callable[[], T]) -> T:
    """Every failure is one actionable line, never a traceback: exit 1 (database down) or 2."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError, OperationalError

    from db.adoption import AdoptionRefused

    try:
        return action()
    except OperationalError:
        raise fail("DATABASE_UNAVAILABLE: the database is not reachable; nothing changed") from None
    except CommandError as exc:
        raise fail(str(exc), 2) from None
    except AdoptionRefused as exc:
        raise fail(f"cannot adopt the existing tables, nothing changed: {exc}", 2) from None
    except RuntimeError as exc:
        raise fail(str(exc), 2) from None
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise fail(f"the database refused the schema change: {first}", 2) from None


def report_revision(url: str, json_output: bool, adoption: dict[str, Any] | None = None) -> None:
    from db import migrate

    current = schema_change(lambda: migrate.current_revision(url))
    if json_output:
        emit_json({"current": current, **({"adoption": adoption} if adoption is not None else {})})
    else:
        out.print(f"database schema at [bold]{current or 'base'}[/bold]")
