"""A preview is remembered in one statement and one commit: the row and its PREVIEW_CREATED event together.

The ORM unit of work sent the row, then the event, then COMMIT (three round trips); here the
row's INSERT is a data-modifying CTE that the event's INSERT reads from, and the row comes back
with its server defaults (created_at, status) filled in, in the same round trip.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, func, insert, literal, select
from sqlalchemy import cast as cast_as
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from db.models import TradeEvent, TradePreview
from services.order_store import jsonable

_PREVIEWS = cast(Table, TradePreview.__table__)
_EVENTS = cast(Table, TradeEvent.__table__)


def _value(column: Any) -> Any:
    """A bound value, or the column's server default where the row leaves it unset (None)."""
    bound = bindparam(column.name, type_=column.type)
    default = column.server_default
    return bound if default is None else func.coalesce(bound, cast_as(default.arg, column.type))


_INSERTED = insert(_PREVIEWS).values({c.name: _value(c) for c in _PREVIEWS.c}).returning(*_PREVIEWS.c).cte("p")
_RECORD = select(_INSERTED).add_cte(insert(_EVENTS).from_select(
    ["created_at", "event_type", "correlation_id", "preview_id", "account_id", "broker_provider", "status",
     "payload"],
    select(func.now(), literal("PREVIEW_CREATED"), bindparam("e_correlation", type_=PG_UUID(as_uuid=True)),
           _INSERTED.c.id, func.left(_INSERTED.c.account_id, 64), _INSERTED.c.broker_provider, _INSERTED.c.status,
           bindparam("e_payload", type_=JSONB)),
).cte("e"))
"""Built once: every call binds new values into the same compiled statement."""


def record_preview(engine: Engine, row: TradePreview, correlation: uuid.UUID) -> None:
    """INSERT the preview and its PREVIEW_CREATED event, COMMIT; `row` gets the values the database set."""
    params = {c.name: getattr(row, c.key) for c in _PREVIEWS.c}
    params["e_correlation"] = correlation
    params["e_payload"] = jsonable({"impact": row.impact, "estimated_total": row.estimated_total})
    with engine.begin() as conn:
        stored: dict[str, Any] = dict(conn.execute(_RECORD, params).mappings().one())
    for column in _PREVIEWS.c:
        setattr(row, column.key, stored[column.name])
