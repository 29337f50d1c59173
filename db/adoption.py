"""Adopting a platform's SnapTrade-era tables: compare with the first revision, fix what is safe, or refuse.

Revision te0001 calls `adopt_existing_tables` when `trade_previews`/`trade_orders` already
exist (so `alembic upgrade heads` in a host adopts them too); `tradeexec db upgrade` first
calls `plan()` to report every difference. Safe fixes run inside te0001's transaction;
anything that could lose or invent data is refused with the reason (`AdoptionRefused`,
nothing changed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, inspect, text

log = logging.getLogger(__name__)

ADOPTED_MARK = "tradeexec: adopted at te0001"
"""Table comment on adopted tables: downgrading below te0001 must never drop the platform's tables."""


@dataclass(frozen=True)
class Column:
    kind: str  # uuid, varchar, numeric, jsonb, timestamptz
    length: int | None = None
    nullable: bool = True
    default: str | None = None


V = "varchar"
PREVIEWS: dict[str, Column] = {
    "id": Column("uuid", nullable=False), "account_id": Column(V, 64, False), "ticker": Column(V, 64, False),
    "side": Column(V, 8, False), "quantity": Column("numeric", nullable=False), "order_type": Column(V, 16, False),
    "limit_price": Column("numeric"), "stop_price": Column("numeric"),
    "time_in_force": Column(V, 8, False, "'Day'"), "estimated_price": Column("numeric"),
    "estimated_total": Column("numeric"), "estimated_commission": Column("numeric"),
    "universal_symbol_id": Column(V, 128), "snaptrade_trade_id": Column(V, 64),
    "impact": Column("jsonb", nullable=False, default="'{}'::jsonb"),
    "status": Column(V, 16, False, "'ACTIVE'"),
    "created_at": Column("timestamptz", nullable=False, default="now()"),
    "expires_at": Column("timestamptz", nullable=False),
}
ORDERS: dict[str, Column] = {
    "id": Column("uuid", nullable=False), "preview_id": Column("uuid", nullable=False),
    "account_id": Column(V, 64, False), "brokerage_order_id": Column(V, 128), "status": Column(V, 16, False),
    "filled_quantity": Column("numeric", nullable=False, default="0"), "average_fill_price": Column("numeric"),
    "brokerage_response": Column("jsonb", nullable=False, default="'{}'::jsonb"),
    "created_at": Column("timestamptz", nullable=False, default="now()"),
    "updated_at": Column("timestamptz", nullable=False, default="now()"),
}
SHAPE = {"trade_previews": PREVIEWS, "trade_orders": ORDERS}
SQL_TYPE = {"uuid": "uuid", "numeric": "numeric(20, 8)", "jsonb": "jsonb", "timestamptz": "timestamptz"}


class AdoptionRefused(Exception):
    """The existing tables cannot be adopted without losing or inventing data; nothing was changed."""


@dataclass
class AdoptionPlan:
    variant: str = "status"
    differences: list[str] = field(default_factory=list)
    fixes: list[tuple[str, str]] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    def fix(self, difference: str, sql: str) -> None:
        self.differences.append(difference)
        self.fixes.append((difference, sql))

    def as_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "differences": self.differences,
                "fixed": [d for d, _ in self.fixes], "blockers": self.blockers}


def needs_adoption(conn: Connection) -> bool:
    """The platform's tables exist and no version table records this branch."""
    from db.migrate import current_revision_on

    names = set(inspect(conn).get_table_names())
    return {"trade_previews", "trade_orders"} <= names and current_revision_on(conn) is None


def plan(conn: Connection) -> AdoptionPlan:
    result = AdoptionPlan()
    actual = {t: _columns(conn, t) for t in SHAPE}
    orders = actual["trade_orders"]
    if "order_status" in orders and "status" not in orders:
        result.variant = "order_status"
        result.fix("trade_orders.order_status is the status column: renamed to status (te0003 adds "
                   "order_status back, kept in sync)", 'ALTER TABLE trade_orders RENAME COLUMN order_status TO status')
        orders["status"] = orders.pop("order_status")
    elif "order_status" in orders:
        result.blockers.append("trade_orders has both status and order_status: keep one (the other is "
                               "recreated by the upgrade)")
    for table, expected in SHAPE.items():
        empty = _count(conn, f"SELECT count(*) FROM {table}") == 0
        for name, want in expected.items():
            _check_column(conn, result, table, name, want, actual[table].get(name), empty)
    _check_keys(conn, result)
    return result


def adopt_existing_tables(conn: Connection) -> AdoptionPlan:
    """Called by revision te0001 when the platform's tables already exist."""
    adoption = plan(conn)
    adopt(conn, adoption)
    for line in adoption.differences:
        log.info("adopting the existing tables: %s", line)
    return adoption


def adopt(conn: Connection, adoption: AdoptionPlan) -> None:
    """Apply the safe fixes and mark the tables (caller commits, then stamps te0001)."""
    if adoption.blockers:
        raise AdoptionRefused("; ".join(adoption.blockers))
    for _difference, sql in adoption.fixes:
        conn.execute(text(sql))
    for table in SHAPE:
        conn.execute(text(f"COMMENT ON TABLE {table} IS '{ADOPTED_MARK}'"))


def _columns(conn: Connection, table: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT column_name, data_type, character_maximum_length, is_nullable, column_default, "
        "numeric_precision, numeric_scale "
        "FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = :t"
    ), {"t": table}).all()
    return {r[0]: {"type": r[1], "length": r[2], "nullable": r[3] == "YES", "default": r[4],
                   "precision": (r[5], r[6])} for r in rows}


def _count(conn: Connection, sql: str) -> int:
    return int(conn.execute(text(sql)).scalar_one())


KIND_OF = {
    "uuid": "uuid", "character varying": V, "text": V, "character": V, "numeric": "numeric", "integer": "numeric",
    "bigint": "numeric", "smallint": "numeric", "double precision": "float", "real": "float", "jsonb": "jsonb",
    "json": "json", "timestamp with time zone": "timestamptz", "timestamp without time zone": "timestamp",
}


def _check_column(
    conn: Connection, out: AdoptionPlan, table: str, name: str, want: Column, have: dict[str, Any] | None,
    empty: bool,
) -> None:
    where = f"{table}.{name}"
    if have is None:
        ddl = f"{_sql_type(want)}" + (f" DEFAULT {want.default}" if want.default else "")
        if want.nullable or want.default:
            out.fix(f"{where} missing: added", f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"
                    + ("" if want.nullable else " NOT NULL"))
        elif empty:
            out.fix(f"{where} missing (table empty): added", f"ALTER TABLE {table} ADD COLUMN {name} {ddl} NOT NULL")
        else:
            out.blockers.append(f"{where} is missing and has no safe value for existing rows")
        return
    kind = KIND_OF.get(have["type"], have["type"])
    _check_type(conn, out, table, name, want, kind, have)
    if not want.nullable and have["nullable"]:
        nulls = _count(conn, f"SELECT count(*) FROM {table} WHERE {name} IS NULL")
        if nulls and not want.default:
            out.blockers.append(f"{where} has {nulls} NULL row(s) but must be NOT NULL")
        else:
            if nulls:
                out.fix(f"{where}: {nulls} NULL(s) set to {want.default}",
                        f"UPDATE {table} SET {name} = {want.default} WHERE {name} IS NULL")
            out.fix(f"{where} nullable: set NOT NULL", f"ALTER TABLE {table} ALTER COLUMN {name} SET NOT NULL")
    if want.default and have["default"] is None:
        out.fix(f"{where} has no default: set {want.default}",
                f"ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT {want.default}")


def _check_type(
    conn: Connection, out: AdoptionPlan, table: str, name: str, want: Column, kind: str, have: dict[str, Any]
) -> None:
    where = f"{table}.{name}"
    if kind == want.kind == V:
        if want.length and have["length"] is not None and have["length"] < want.length:
            out.fix(f"{where} is varchar({have['length']}): widened to {want.length}",
                    f"ALTER TABLE {table} ALTER COLUMN {name} TYPE varchar({want.length})")
        return  # a longer or unbounded string column is kept as it is
    if kind == want.kind == "numeric" and have["type"] == "numeric" and have["precision"] == (20, 8):
        return
    if kind == want.kind and kind != "numeric":
        return
    convertible = {("json", "jsonb"), ("numeric", "numeric"), (V, "uuid"), ("timestamp", "timestamptz")}
    if (kind, want.kind) not in convertible:
        out.blockers.append(f"{where} is {have['type']}, expected {want.kind}; convert it first")
        return
    if want.kind == "numeric":
        bad = _count(conn, f"SELECT count(*) FROM {table} WHERE {name} <> round({name}, 8) OR abs({name}) >= 1e12")
        if bad:
            out.blockers.append(f"{where} is {have['type']} and {bad} value(s) do not fit numeric(20, 8)")
            return
    if want.kind == "uuid":
        bad = _count(conn, f"SELECT count(*) FROM {table} WHERE {name} IS NOT NULL AND {name}::text !~* "
                           "'^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$'")
        if bad:
            out.blockers.append(f"{where} is {have['type']} and {bad} value(s) are not UUIDs")
            return
    using = f"{name} AT TIME ZONE 'UTC'" if kind == "timestamp" else f"{name}::{SQL_TYPE[want.kind]}"
    note = " (read as UTC)" if kind == "timestamp" else ""
    out.fix(f"{where} is {have['type']}: converted to {want.kind}{note}",
            f"ALTER TABLE {table} ALTER COLUMN {name} TYPE {SQL_TYPE[want.kind]} USING {using}")


def _sql_type(want: Column) -> str:
    return f"varchar({want.length})" if want.kind == V else SQL_TYPE[want.kind]


def _check_keys(conn: Connection, out: AdoptionPlan) -> None:
    insp = inspect(conn)
    for table in SHAPE:
        if not insp.get_pk_constraint(table).get("constrained_columns"):
            dupes = _count(conn, f"SELECT count(*) FROM (SELECT id FROM {table} GROUP BY id HAVING count(*) > 1) d")
            if dupes:
                out.blockers.append(f"{table} has no primary key and {dupes} duplicated id(s)")
            else:
                out.fix(f"{table} has no primary key: added pk_{table}",
                        f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
    unique = any(u["column_names"] == ["preview_id"] for u in insp.get_unique_constraints("trade_orders")) or any(
        i["unique"] and i["column_names"] == ["preview_id"] for i in insp.get_indexes("trade_orders"))
    if not unique:
        dupes = _count(conn, "SELECT count(*) FROM (SELECT preview_id FROM trade_orders GROUP BY preview_id "
                             "HAVING count(*) > 1) d")
        if dupes:
            out.blockers.append(
                f"UNIQUE(trade_orders.preview_id) is missing and {dupes} preview id(s) have several orders; "
                "a preview executes once: resolve those rows (SELECT preview_id FROM trade_orders GROUP BY "
                "preview_id HAVING count(*) > 1), then run db upgrade again")
        else:
            out.fix("UNIQUE(trade_orders.preview_id) missing: added uq_trade_orders_preview_id",
                    "ALTER TABLE trade_orders ADD CONSTRAINT uq_trade_orders_preview_id UNIQUE (preview_id)")
    if not any(fk["referred_table"] == "trade_previews" for fk in insp.get_foreign_keys("trade_orders")):
        orphans = _count(conn, "SELECT count(*) FROM trade_orders o WHERE NOT EXISTS "
                               "(SELECT 1 FROM trade_previews p WHERE p.id = o.preview_id)")
        if orphans:
            out.blockers.append(f"{orphans} trade_orders row(s) refer to a preview that does not exist")
        else:
            out.fix("trade_orders.preview_id has no foreign key: added",
                    "ALTER TABLE trade_orders ADD CONSTRAINT fk_trade_orders_preview_id_trade_previews "
                    "FOREIGN KEY (preview_id) REFERENCES trade_previews (id) ON DELETE RESTRICT")
    if not any(i["column_names"] == ["account_id", "created_at"] for i in insp.get_indexes("trade_orders")):
        out.fix("index on trade_orders (account_id, created_at) missing: added",
                "CREATE INDEX ix_trade_orders_account_id_created_at ON trade_orders (account_id, created_at)")
