"""EXPLAIN ANALYZE of the exact statements the service sent, reduced to evidence.

The statements are captured from the engine (bench.database.StatementCounter), so the
plan shown is the plan of what the service really runs, not of a hand-written copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

SCAN_NODES = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan"}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def explain(engine: Engine, statement: str, parameters: Any) -> dict[str, Any]:
    """Plan summary for one statement: index use, seq scans, and rows read per table."""
    with engine.connect() as conn:
        raw = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters).scalar_one()
        conn.rollback()  # EXPLAIN ANALYZE runs the statement; SELECT ... FOR UPDATE must not keep locks
    document = raw if isinstance(raw, list) else json.loads(raw)
    root = document[0]["Plan"]
    scans: list[str] = []
    seq_scans: list[str] = []
    rows_read: dict[str, int] = {}
    for node in _nodes(root):
        kind = node.get("Node Type", "")
        if kind not in SCAN_NODES:
            continue
        relation = node.get("Relation Name")
        index = node.get("Index Name")
        scans.append(f"{kind}" + (f" using {index}" if index else "") + (f" on {relation}" if relation else ""))
        if kind == "Seq Scan" and relation:
            seq_scans.append(relation)
        # a Bitmap Index Scan has no relation; the heap node above it reports the rows read
        if relation:
            loops = int(node.get("Actual Loops", 1))
            removed = int(node.get("Rows Removed by Filter", 0)) + int(node.get("Rows Removed by Index Recheck", 0))
            read = (int(node.get("Actual Rows", 0)) + removed) * loops  # both are per-loop averages
            rows_read[relation] = rows_read.get(relation, 0) + read
    return {
        "scans": scans,
        "seq_scans": seq_scans,
        "uses_index": bool(scans) and not any(r == "trade_orders" for r in seq_scans),
        "rows_read": rows_read,
        "rows_read_total": sum(rows_read.values()),
        "rows_returned": int(root.get("Actual Rows", 0)),
        "shared_buffers_hit_read": int(root.get("Shared Hit Blocks", 0)) + int(root.get("Shared Read Blocks", 0)),
    }


def first_touching(recorded: list[tuple[str, object]], table: str, *, contains: str = "") -> tuple[str, object]:
    """The first recorded SELECT that reads `table` (and contains `contains`)."""
    for statement, parameters in recorded:
        if statement.lstrip().upper().startswith("SELECT") and table in statement and contains in statement:
            return statement, parameters
    raise LookupError(f"no recorded SELECT on {table} containing {contains!r}")
