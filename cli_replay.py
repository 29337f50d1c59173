"""`tradeexec replay`: recorded previews and executes run again on the simulators, differences printed.

Reads trade_events from the configured database (read only), starts both simulators and a scratch
database (an embedded PostgreSQL in a temporary directory, or `--scratch-url`), builds the service
with the environment's settings except the database, the brokers (the simulators) and TRADING_MODE
(paper), replays every request in the recorded order, and lists differences. Replay with the same
ORDERS_ENABLED, kill switch and risk limits the recording ran with, or expect differences.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from services.replay import Recorded, ReplayReport, recorded_requests, replay
from settings import Settings

DEFAULT_IBKR_ACCOUNT = "DU1234567"
REPLAY_CLIENT_ID = 91


def recorded(settings: Settings, since: datetime | None, account: str | None) -> list[Recorded]:
    from db.engine import database_url, make_engine, make_session_factory

    engine = make_engine(database_url(settings))
    try:
        return recorded_requests(make_session_factory(engine), since, account)
    finally:
        engine.dispose()


@contextmanager
def scratch_database(scratch_url: str | None) -> Iterator[dict[str, Any]]:
    """Settings naming a migrated, empty database that exists only for this replay."""
    from db.embedded import stop_embedded_server
    from mcp_tools.runtime import prepare_database

    if scratch_url is not None:
        prepare_database(Settings(DATABASE_URL=scratch_url), migrate=True)
        yield {"DATABASE_URL": scratch_url}
        return
    data_dir = Path(tempfile.mkdtemp(prefix="tradeexec-replay-"))
    try:
        prepare_database(Settings(DATABASE_URL=None, TRADEEXEC_DATA_DIR=data_dir), migrate=True)
        yield {"DATABASE_URL": None, "TRADEEXEC_DATA_DIR": data_dir}
    finally:
        try:
            stop_embedded_server(data_dir)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


def run_replay(requests: list[Recorded], ibkr_accounts: tuple[str, ...],
               scratch_url: str | None, tolerance: Decimal) -> ReplayReport:
    from services.wiring import build_service
    from simulators.ib_gateway import IBGatewaySimulator
    from simulators.snaptrade import SnapTradeSimulator

    with ExitStack() as stack:
        database = stack.enter_context(scratch_database(scratch_url))
        gateway = IBGatewaySimulator(port=0, accounts=ibkr_accounts or (DEFAULT_IBKR_ACCOUNT,))
        gateway.start()
        stack.callback(gateway.close)
        snaptrade = SnapTradeSimulator().start()
        stack.callback(snaptrade.stop)
        seeded = snaptrade.seed_demo()
        overrides: dict[str, Any] = {
            **database, "BROKERS": "ibkr,snaptrade", "TRADING_MODE": "paper",
            "IBKR_GATEWAY_HOST": "127.0.0.1", "IBKR_GATEWAY_PORT": gateway.port, "IBKR_CLIENT_ID": REPLAY_CLIENT_ID,
            "IBKR_ACCOUNTS": ",".join(ibkr_accounts or (DEFAULT_IBKR_ACCOUNT,)),
            "SNAPTRADE_BASE_URL": snaptrade.base_url, "SNAPTRADE_CLIENT_ID": seeded["client_id"],
            "SNAPTRADE_CONSUMER_KEY": seeded["consumer_key"], "SNAPTRADE_USER_ID": seeded["user_id"],
            "SNAPTRADE_USER_SECRET": seeded["user_secret"],
        }
        replay_settings = Settings(**overrides)  # everything else from the environment, as recorded
        service = build_service(replay_settings, reconcile_on_start=False)
        stack.callback(service.close)
        return replay(service, requests, tolerance)
    raise RuntimeError("unreachable")  # pragma: no cover - ExitStack does not swallow exceptions


def render(report: ReplayReport, out: Console) -> None:
    if not report.differences:
        out.print(f"replayed {report.replayed} request(s), skipped {report.skipped}: [green]no differences[/green]")
        return
    table = Table(title=f"replay: {len(report.differences)} difference(s) in {report.replayed} request(s)")
    for column in ("event", "kind", "preview", "what", "recorded", "replayed"):
        table.add_column(column)
    for d in report.differences:
        table.add_row(str(d.event_id), d.kind, d.preview_id or "-", d.what, d.recorded, d.replayed)
    out.print(table)
