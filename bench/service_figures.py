"""Figures that need only the service, the database and the in-memory broker.

Duplicate storm: exactly-once is a count (broker placements for one preview), and its
cost is the time until every caller has an answer against one uncontended execute.
Throughput: executes per second against the floor at the same concurrency: the raw broker
call plus the two commits an exactly-once execute cannot do without (INSERT the intent and
COMMIT; place; UPDATE the outcome and COMMIT), on the same database in the same run.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from bench.context import ACCOUNT, BENCH_ACCOUNTS, BenchContext, bench_broker
from bench.floor import Floor
from bench.own_sql import OwnSql
from bench.stats import Summary, compare, interleaved, rounded, sample
from brokers.errors import TradeError
from db.models import TradeEvent, TradeOrder
from services.trade_execution import TradeExecutionService

STORM_CALLERS = 100
CONCURRENCY = (1, 4, 16, 64)


def _preview(service: TradeExecutionService, account: str = ACCOUNT) -> str:
    """A market buy: the in-memory broker fills it at once, so an account's working orders (which the
    execute-time check sums) stay few, as at a real account, however many executes a figure makes."""
    return service.preview_trade(account, "AAPL", "BUY", Decimal("1"), "Market").preview_id


def _spread_previews(service: TradeExecutionService, count: int, accounts: int) -> list[str]:
    """Previews round-robin over `accounts` accounts (1 = all on one account)."""
    return [_preview(service, BENCH_ACCOUNTS[i % accounts]) for i in range(count)]


def _storm_once(service: TradeExecutionService, callers: int) -> dict[str, Any]:
    preview_id = _preview(service)
    start_gate = threading.Barrier(callers + 1)
    outcomes: list[str] = []
    finished: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        start_gate.wait()
        try:
            service.execute_trade(preview_id)
            outcome = "ORDER"
        except TradeError as exc:
            outcome = exc.code.value
        done = time.perf_counter()
        with lock:
            outcomes.append(outcome)
            finished.append(done)

    threads = [threading.Thread(target=caller, name=f"storm-{i}") for i in range(callers)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    released = time.perf_counter()
    for thread in threads:
        thread.join(timeout=120)
    with service.store.session_factory() as session:
        rows = session.execute(
            select(func.count()).select_from(TradeOrder).where(TradeOrder.preview_id == uuid.UUID(preview_id))
        ).scalar_one()
        events = {
            event_type: count
            for event_type, count in session.execute(
                select(TradeEvent.event_type, func.count())
                .where(TradeEvent.preview_id == uuid.UUID(preview_id))
                .group_by(TradeEvent.event_type)
            )
        }
    return {
        "answers": Counter(outcomes),
        "answered": len(outcomes),
        "order_rows": rows,
        "events": events,
        "seconds": max(finished) - released if finished else float("nan"),
    }


def duplicate_storm(ctx: BenchContext) -> dict[str, Any]:
    """100 concurrent execute_trade on one preview: broker placements must be exactly 1 every time."""
    ctx.truncate()
    storms = ctx.n(1, 5)
    broker = bench_broker()
    with ctx.service([broker]) as service:
        single = Summary.of(sample(lambda: service.execute_trade(_preview(service)), ctx.n(5, 20)))
        results = []
        for _ in range(storms):
            before = broker.place_calls
            result = _storm_once(service, STORM_CALLERS)
            result["placed"] = broker.place_calls - before
            results.append(result)
    storm_ms = Summary.of([r["seconds"] for r in results])
    answers: Counter[str] = Counter()
    for r in results:
        answers.update(r["answers"])
    return {
        "title": f"Duplicate storm: {STORM_CALLERS} concurrent execute_trade on one preview",
        "measured": True,
        "callers": STORM_CALLERS,
        "storms": storms,
        "broker_orders_placed_max": max(r["placed"] for r in results),
        "broker_orders_placed_per_storm": [r["placed"] for r in results],
        "order_rows_per_storm": [r["order_rows"] for r in results],
        "callers_answered_min": min(r["answered"] for r in results),
        "answers": dict(answers),
        "audit_events_last_storm": results[-1]["events"],
        "time_all_answered": {"storm": storm_ms.as_json(), "single_execute": single.as_json(),
                              "ratio_p50": rounded(storm_ms.p50_ms / single.p50_ms)},
        "rows": [
            {"metric": "broker orders placed per storm (must be 1)",
             "value": max(r["placed"] for r in results), "baseline": 1, "ratio": None},
            {"metric": "callers answered (of 100)", "value": min(r["answered"] for r in results),
             "baseline": STORM_CALLERS, "ratio": None},
            {"metric": "time until all answered (p50, ms) vs one uncontended execute",
             "value": round(storm_ms.p50_ms, 1), "baseline": round(single.p50_ms, 1),
             "ratio": rounded(storm_ms.p50_ms / single.p50_ms)},
        ],
    }


def _run_parallel(callers: int, work: list[Any], action: Any) -> float:
    """Wall seconds for `callers` threads to drain `work` through `action`."""
    pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for item in work:
        pending.put(item)
    errors: list[BaseException] = []

    def drain() -> None:
        while True:
            try:
                item = pending.get_nowait()
            except queue.Empty:
                return
            try:
                action(item)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=drain) for _ in range(callers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} call(s) failed, first: {errors[0]!r}")
    return elapsed


def _statement_trace(ctx: BenchContext, service: TradeExecutionService) -> list[str]:
    """The SQL one execute sends, abbreviated: evidence of what each execute costs in round trips."""
    preview_id = _preview(service)
    ctx.counter.reset()
    ctx.counter.record = True
    try:
        service.execute_trade(preview_id)
    finally:
        ctx.counter.record = False
    return [_abbreviate(statement) for statement, _ in ctx.counter.recorded]


def _abbreviate(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else "?"
    table = next((w for w in words if w.startswith("trade_")), "")
    tail = " FOR UPDATE" if "FOR UPDATE" in statement else ""
    return f"{verb} {table.split('.')[0]}{tail}".strip()


def _floor_action(ctx: BenchContext, broker: Any) -> Any:
    """The floor of one execute (bench.floor): INSERT+COMMIT, the raw broker call, UPDATE+COMMIT."""
    floor = Floor(ctx.engine)
    return lambda to_place: floor.execute(lambda: broker.place_order(ACCOUNT, to_place, uuid.uuid4().hex))()


def _to_place() -> Any:
    from brokers.records import OrderToPlace

    return OrderToPlace(request=_request(), broker_symbol_id="sym-AAPL")


def _request() -> Any:
    from brokers.models import parse_order_request

    return parse_order_request(account_id=ACCOUNT, ticker="AAPL", side="BUY", quantity=Decimal(1),
                               order_type="Market")


def latency(ctx: BenchContext) -> dict[str, Any]:
    """One caller: preview and execute vs their floors (in-memory broker), interleaved call by call; and vs the
    module's own SQL alone (bench.own_sql), which splits the gap into the schema's share and the Python's."""
    ctx.truncate()
    broker = bench_broker()
    floor, own = Floor(ctx.engine), OwnSql(ctx.engine, ctx.session_factory)
    to_place, request = _to_place(), _request()
    calls = ctx.n(100, 600)
    with ctx.service([broker]) as service:
        previews = interleaved({"service": lambda: _preview(service),
                                "floor": floor.preview(lambda: broker.preview_order(request)),
                                "own_sql": own.preview(_preview(service), lambda: broker.preview_order(request))},
                               calls)
        pending = [_preview(service) for _ in range(calls + 2)]
        own_pending = [_preview(service) for _ in range(calls + 2)]
        executes = interleaved({
            "service": lambda: service.execute_trade(pending.pop()),
            "floor": floor.execute(lambda: broker.place_order(ACCOUNT, to_place, uuid.uuid4().hex)),
            "own_sql": own.execute(own_pending, lambda: broker.place_order(ACCOUNT, to_place, uuid.uuid4().hex)),
        }, calls)
    pairs = {name: compare(Summary.of(times["service"]), Summary.of(times["floor"]))
             for name, times in (("preview", previews), ("execute", executes))}
    own_sql = {name: {"service_vs_own_sql": compare(Summary.of(times["service"]), Summary.of(times["own_sql"])),
                      "own_sql_vs_floor": compare(Summary.of(times["own_sql"]), Summary.of(times["floor"]))}
               for name, times in (("preview", previews), ("execute", executes))}
    return {
        "title": "Latency at 1 caller vs the floor (in-memory broker; floor = broker call + 1 or 2 commits)",
        "measured": True,
        **pairs,
        "own_sql": own_sql,
        "rows": [
            *({"metric": f"{name}_trade {pct} ms vs floor", "value": pair["subject"][f"{pct}_ms"],
               "baseline": pair["baseline"][f"{pct}_ms"], "ratio": pair[f"ratio_{pct}"]}
              for name, pair in pairs.items() for pct in ("p50", "p99")),
            *({"metric": f"{name}: {label} p50 ms", "value": pair["subject"]["p50_ms"],
               "baseline": pair["baseline"]["p50_ms"], "ratio": pair["ratio_p50"]}
              for name, parts in own_sql.items()
              for label, pair in (("service vs its own SQL alone", parts["service_vs_own_sql"]),
                                  ("own SQL alone vs floor", parts["own_sql_vs_floor"]))),
        ],
        "notes": ["own SQL alone (bench/own_sql.py): the module's statements and commits with the broker call "
                  "between and no other code; service/own SQL is the Python's share, own SQL/floor the schema's"],
    }


def throughput(ctx: BenchContext) -> dict[str, Any]:
    """Executes/s over distinct previews at 1, 4, 16, 64 callers vs the floor at the same concurrency."""
    ctx.truncate()
    broker = bench_broker(len(BENCH_ACCOUNTS))
    floor = _floor_action(ctx, broker)
    to_place = _to_place()
    per_round = ctx.n(40, 200)
    rounds = ctx.n(2, 3)
    levels: list[dict[str, Any]] = []
    with ctx.service([broker]) as service:
        concurrency = CONCURRENCY if not ctx.quick else CONCURRENCY[:-1]  # 64 callers need 40+ connections
        for callers, accounts in [(c, len(BENCH_ACCOUNTS)) for c in concurrency] + [(16, 1)]:
            service_s = floor_s = 0.0
            statements = commits = 0
            for _ in range(rounds):
                previews = _spread_previews(service, per_round, accounts)
                floor_s += _run_parallel(callers, [to_place] * per_round, floor)
                ctx.counter.reset()
                service_s += _run_parallel(callers, previews, service.execute_trade)
                statements += ctx.counter.statements
                commits += ctx.counter.commits
            total = per_round * rounds
            levels.append({
                "callers": callers, "accounts": accounts, "executes": total,
                "executes_per_s": round(total / service_s, 1),
                "floor_per_s": round(total / floor_s, 1),
                "service_over_floor": rounded(service_s / floor_s),
                "statements_per_execute": round(statements / total, 2),
                "commits_per_execute": round(commits / total, 2),
            })
        trace = _statement_trace(ctx, service)
    return {
        "title": "Throughput: execute_trade over distinct previews (in-memory broker)",
        "measured": True,
        "baseline": "floor: INSERT+COMMIT, raw broker call, UPDATE+COMMIT; same count and concurrency, in rounds",
        "levels": levels,
        "one_execute_statements": trace,
        "notes": ["statements of one execute_trade: " + " | ".join(trace)],
        "rows": [
            {"metric": f"{lv['callers']} caller(s), {lv['accounts']} account(s): executes/s vs floor/s",
             "value": lv["executes_per_s"], "baseline": lv["floor_per_s"], "ratio": lv["service_over_floor"]}
            for lv in levels
        ] + [
            {"metric": "SQL statements / commits per execute (count)",
             "value": levels[0]["statements_per_execute"], "baseline": levels[0]["commits_per_execute"],
             "ratio": None},
        ],
    }
