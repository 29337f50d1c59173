"""Scale: get_orders and the reconciliation scan as trade_orders grows 10^4 -> 10^5 -> 10^6.

Rows are bulk-loaded server side (INSERT ... SELECT generate_series), never by Python
loops. What a call returns is held constant while the table grows: one account with a
fixed 200-order history, 20 unsettled and 30 working orders elsewhere, and the rest
final orders spread over 1,000 other accounts and 90 days. So a p50 that grows with N
means the query reads more rows, and EXPLAIN ANALYZE (rows read, index or seq scan)
shows why. The baseline of every growth ratio is the same call at 10^4 rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, text

from bench.context import ACCOUNT, BenchContext
from bench.database import fresh_bench_database
from bench.explain import explain, first_touching
from bench.stats import Summary, compare, interleaved, rounded
from brokers.models import UNSETTLED_STATUSES
from services.trade_execution import TradeExecutionService

FIXED_ROWS = 250
BULK_ACCOUNTS = 1000
MINUTES_90_DAYS = 90 * 24 * 60

PREVIEW_INSERT = """
INSERT INTO trade_previews (id, account_id, broker_provider, ticker, side, quantity, order_type, limit_price,
    time_in_force, estimated_price, estimated_total, estimated_commission, broker_symbol_id, status,
    created_at, expires_at)
SELECT (:tag || '0' || lpad(to_hex(i), 30, '0'))::uuid, a, 'ibkr', 'AAPL', 'BUY', 1, 'Limit', 100, 'Day',
    100, 101, 1, 'sym-AAPL', 'EXECUTED', t, t + interval '5 minutes'
FROM ({source}) AS src
"""
ORDER_INSERT = """
INSERT INTO trade_orders (id, preview_id, account_id, broker_provider, client_order_ref, brokerage_order_id,
    status, filled_quantity, remaining_quantity, created_at, submitted_at, updated_at)
SELECT (:tag || '1' || lpad(to_hex(i), 30, '0'))::uuid, (:tag || '0' || lpad(to_hex(i), 30, '0'))::uuid, a,
    'ibkr', 'ref-' || :tag || '-' || lpad(i::text, 10, '0'),
    CASE WHEN st IN ('FAILED', 'SUBMITTING', 'UNKNOWN') THEN NULL ELSE :tag || i END,
    st, CASE WHEN st = 'EXECUTED' THEN 1 ELSE 0 END, CASE WHEN st = 'EXECUTED' THEN 0 ELSE 1 END, t, t, t
FROM ({source}) AS src
"""
SOURCE = "SELECT i, {account} AS a, {status} AS st, {ts} AS t FROM generate_series(:start, :stop - 1) AS s(i)"

BULK = {
    "account": f"'DU' || lpad((i % {BULK_ACCOUNTS})::text, 4, '0')",
    "status": "CASE WHEN i % 20 < 14 THEN 'EXECUTED' WHEN i % 20 < 18 THEN 'CANCELED' "
              "WHEN i % 20 = 18 THEN 'REJECTED' ELSE 'FAILED' END",
    "ts": f"now() - ((i::bigint * 7919) % {MINUTES_90_DAYS}) * interval '1 minute' - interval '1 day'",
}
# Keys are ordered (tag digit + hex counter), not random: each index then grows at its right
# edge and a million rows load in seconds. Lookups by key cost the same either way.
FIXED: dict[str, tuple[int, dict[str, str]]] = {
    "a": (200, {"account": f"'{ACCOUNT}'",
                "status": "CASE WHEN i < 10 THEN 'ACCEPTED' WHEN i % 5 = 0 THEN 'CANCELED' ELSE 'EXECUTED' END",
                "ts": "now() - i * interval '10 hours'"}),
    "c": (20, {"account": "'DU' || lpad(i::text, 4, '0')",
               "status": "CASE WHEN i % 2 = 0 THEN 'SUBMITTING' ELSE 'UNKNOWN' END",
               "ts": "now() - interval '1 hour' - i * interval '1 minute'"}),
    "e": (30, {"account": "'DU' || lpad((20 + i)::text, 4, '0')",
               "status": "(ARRAY['PENDING', 'ACCEPTED', 'PARTIAL'])[1 + i % 3]",
               "ts": "now() - interval '2 hours' - i * interval '1 minute'"}),
}
if sum(n for n, _ in FIXED.values()) != FIXED_ROWS:
    raise RuntimeError("the fixed row groups must add up to FIXED_ROWS")


def _load(conn: Connection, tag: str, start: int, stop: int, shape: dict[str, str]) -> None:
    source = SOURCE.format(**shape)
    params = {"tag": tag, "start": start, "stop": stop}
    conn.execute(text(PREVIEW_INSERT.format(source=source)), params)
    conn.execute(text(ORDER_INSERT.format(source=source)), params)


SECONDARY_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = current_schema() AND i.tablename IN ('trade_orders', 'trade_previews')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
ORDER BY i.indexname
"""


def _grow_to(ctx: BenchContext, loaded: int, target: int) -> tuple[float, float]:
    """Bulk-load trade_orders from `loaded` to `target` rows: (load seconds, VACUUM ANALYZE seconds).

    Secondary indexes (not the primary and unique keys, which the load must respect) are
    dropped and rebuilt from their own definitions (pg_indexes.indexdef): one sorted build
    is several times faster than a million random inserts, and the schema ends identical.
    """
    start = time.perf_counter()
    with ctx.engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        indexes = [(str(name), str(ddl)) for name, ddl in conn.execute(text(SECONDARY_INDEXES))]
        for name, _ddl in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        if loaded == 0:
            for tag, (count, shape) in FIXED.items():
                _load(conn, tag, 0, count, shape)
            loaded = FIXED_ROWS
        _load(conn, "b", loaded - FIXED_ROWS, target - FIXED_ROWS, BULK)
        for _name, ddl in indexes:
            conn.execute(text(ddl))
    loaded_at = time.perf_counter()
    with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) trade_orders, trade_previews"))
    return loaded_at - start, time.perf_counter() - loaded_at


def _calls(service: TradeExecutionService) -> dict[str, Callable[[], Any]]:
    def scan() -> Any:
        with service.store.session_factory() as session:
            return service.store.unsettled_order_ids(session, UNSETTLED_STATUSES)

    return {
        "get_orders(account)": lambda: service.get_orders(ACCOUNT),
        "get_orders()": service.get_orders,
        "get_orders(state=open)": lambda: service.get_orders(state="open"),
        "reconciliation scan": scan,
        "reconcile() 20 unsettled": service.reconcile,
    }


def _plan(ctx: BenchContext, call: Callable[[], Any], contains: str) -> dict[str, Any]:
    """Run the call once with statement capture on, then EXPLAIN ANALYZE what it sent."""
    ctx.counter.reset()
    ctx.counter.record = True
    try:
        call()
    finally:
        ctx.counter.record = False
    statements = ctx.counter.statements
    statement, parameters = first_touching(ctx.counter.recorded, "trade_orders", contains=contains)
    return {**explain(ctx.engine, statement, parameters), "statements_per_call": statements}


PLAN_OF = {  # which captured statement to explain for each call
    "get_orders(account)": "JOIN trade_previews",
    "get_orders()": "JOIN trade_previews",
    "get_orders(state=open)": "JOIN trade_previews",
    "reconciliation scan": "ORDER BY trade_orders.updated_at",
    "reconcile() 20 unsettled": "brokerage_order_id IS NOT NULL",
}


def scale(ctx: BenchContext) -> dict[str, Any]:
    """Each call at N rows, interleaved with the same call on a second database holding 10^4 rows."""
    ctx.truncate()
    levels = (10_000,) if ctx.quick else (10_000, 100_000, 1_000_000)
    repeats = ctx.n(7, 25)
    loaded = 0
    per_level: list[dict[str, Any]] = []
    with fresh_bench_database(ctx.url) as base_url:
        base = BenchContext(base_url, ctx.quick)
        try:
            _grow_to(base, 0, levels[0])
            with ctx.service() as service, base.service() as base_service:
                calls, base_calls = _calls(service), _calls(base_service)
                base_plans = {name: _plan(base, call, PLAN_OF[name]) for name, call in base_calls.items()}
                for rows in levels:
                    load_s, vacuum_s = _grow_to(ctx, loaded, rows)
                    loaded = rows
                    level: dict[str, Any] = {"rows": rows, "load_seconds": round(load_s, 1),
                                             "vacuum_analyze_seconds": round(vacuum_s, 1), "calls": {}}
                    for name, call in calls.items():
                        count = repeats if "reconcile()" not in name else max(3, repeats // 3)
                        times = interleaved({"subject": call, "baseline": base_calls[name]}, count)
                        level["calls"][name] = {
                            **compare(Summary.of(times["subject"]), Summary.of(times["baseline"])),
                            "plan": _plan(ctx, call, PLAN_OF[name]),
                        }
                    per_level.append(level)
        finally:
            base.close()
    return _report(per_level, base_plans, levels[0])


def _report(per_level: list[dict[str, Any]], base_plans: dict[str, Any], base_rows: int) -> dict[str, Any]:
    top = per_level[-1]
    rows_out: list[dict[str, Any]] = []
    notes: list[str] = []
    for name, now in top["calls"].items():
        then = base_plans[name]
        rows_out.append({
            "metric": f"{name}: p50 ms at {top['rows']:,} rows vs at {base_rows:,} (interleaved)",
            "value": now["subject"]["p50_ms"], "baseline": now["baseline"]["p50_ms"], "ratio": now["ratio_p50"],
        })
        rows_out.append({
            "metric": f"{name}: rows read, all tables (EXPLAIN ANALYZE)",
            "value": now["plan"]["rows_read_total"], "baseline": then["rows_read_total"],
            "ratio": rounded(now["plan"]["rows_read_total"] / max(1, then["rows_read_total"])),
        })
        notes.append(f"{name} @ {top['rows']:,}: uses_index={now['plan']['uses_index']}; "
                     + "; ".join(now["plan"]["scans"]))
    notes.extend(f"grow to {lv['rows']:,} rows: INSERT ... SELECT generate_series + index rebuild "
                 f"{lv['load_seconds']} s, then VACUUM ANALYZE {lv['vacuum_analyze_seconds']} s" for lv in per_level)
    return {
        "title": "Scale: time per call as trade_orders grows (baseline: the same call on 10^4 rows, interleaved)",
        "measured": True,
        "levels": per_level,
        "baseline_plans": base_plans,
        "rows": rows_out,
        "notes": notes,
    }
