"""A preview is remembered in one statement and one commit: the row and its PREVIEW_CREATED event together.

The row's INSERT is a data-modifying CTE that the event's INSERT reads from, sent straight to psycopg
(db/direct.py). The statement is built once from the table's own columns: a value left unset (None)
takes the column's server default. What comes back is every column the database may have set or
rounded (defaults, the universal_symbol_id trigger of te0003_dropin, NUMERIC scale), not the JSONB
documents this process has just written.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

from sqlalchemy import Engine, Table, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from brokers.errors import ErrorCode, TradeError
from db import direct
from db.models import PreviewStatus, TradePreview

_PREVIEWS = cast(Table, TradePreview.__table__)
_DIALECT = postgresql.psycopg.dialect()
_JSON_COLUMNS = tuple(c.name for c in _PREVIEWS.c if isinstance(c.type, JSONB))
_RETURNED = tuple(c.name for c in _PREVIEWS.c if c.name not in _JSON_COLUMNS)
_KEYS = tuple((c.name, TradePreview.__mapper__.get_property_by_column(c).key) for c in _PREVIEWS.c)
if any(str(_PREVIEWS.c[name].server_default.arg.text) != "'{}'::jsonb" for name in _JSON_COLUMNS):  # type: ignore
    raise RuntimeError("record_preview assumes every JSONB column of trade_previews defaults to '{}'")


def _value(column: Any) -> str:
    """A bound value, typed; or the column's server default where the row leaves it unset (None)."""
    bound = f"CAST(:{column.name} AS {column.type.compile(dialect=_DIALECT)})"
    default = column.server_default
    return bound if default is None else f"coalesce({bound}, {default.arg.compile(dialect=_DIALECT)})"


_RECORD = direct.psycopg_style(f"""
WITH p AS (
    INSERT INTO trade_previews ({", ".join(c.name for c in _PREVIEWS.c)})
    VALUES ({", ".join(_value(c) for c in _PREVIEWS.c)})
    RETURNING {", ".join(_RETURNED)}
), e AS (
    INSERT INTO trade_events (created_at, event_type, correlation_id, preview_id, account_id, broker_provider,
        status, payload)
    SELECT now(), 'PREVIEW_CREATED', :e_correlation, p.id, left(p.account_id, 64), p.broker_provider, p.status,
        jsonb_build_object('impact', CAST(:impact AS jsonb), 'estimated_total', CAST(:e_total AS text))
    FROM p
)
SELECT {", ".join(_RETURNED)} FROM p
""")
"""Built once: every call binds new values into the same statement (prepared by psycopg after a few uses)."""


def record_preview(engine: Engine, row: TradePreview, correlation: uuid.UUID) -> None:
    """INSERT the preview and its PREVIEW_CREATED event, COMMIT; `row` gets the values the database set."""
    if not inspect(row).transient:  # only a new row holds every column value in __dict__ (unset: None)
        raise TradeError(ErrorCode.INTERNAL_ERROR, "record_preview takes a new preview row, not a stored one")
    own = row.__dict__
    params: dict[str, Any] = {name: own.get(key) for name, key in _KEYS}
    for name in _JSON_COLUMNS:
        params[name] = None if params[name] is None else json.dumps(params[name])
    if params["status"] is not None:
        params["status"] = str(params["status"])
    params["e_correlation"] = correlation
    params["e_total"] = None if row.estimated_total is None else str(row.estimated_total)
    [stored] = direct.fetch_and_commit(engine, _RECORD, params)
    values = dict(zip(_RETURNED, stored, strict=True))
    values["status"] = PreviewStatus(values["status"])
    values.update({name: {} for name in _JSON_COLUMNS if getattr(row, name) is None})  # their server default
    row.__dict__.update(values)  # as db.models.row_object does: no attribute events
