"""A second baseline: the module's own SQL, with the broker call between, and none of its Python around it.

bench.floor is the least any implementation with the same guarantees would pay, on a one-index table.
The module's schema asks more of PostgreSQL than that: the order row goes into twelve indexes and
through the platform's status trigger, the preview's UPDATE through its symbol trigger, each step
writes audit events, and a sent order's holdings check reads the account's working orders. This
baseline sends exactly the statements an execute (or preview) sends, through the same db.direct
calls, with the same kind of values, and does nothing else: no refusal rules, no flights, no views,
no telemetry. So:

- service / floor: what the issue's targets judge (the module against the least possible);
- own SQL / floor: what the schema and the holdings check cost on the database, whatever the Python;
- service / own SQL: the module's Python, the only part code in this repository can remove.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.models import OrderStatus
from db import direct
from db.models import TradeOrder, TradePreview, row_object
from services import execute_sql as sql
from services.preview_record import record_preview


class OwnSql:
    def __init__(self, engine: Engine, session_factory: sessionmaker[Session]) -> None:
        self.engine = engine
        self.session_factory = session_factory

    def preview(self, template_id: str, broker_call: Callable[[], Any]) -> Callable[[], None]:
        """The broker's preview, then the preview's own statement (row + event, one commit) for a copy of a
        stored preview: the same columns and JSONB documents the service writes."""
        with self.session_factory() as session:
            template = session.scalars(select(TradePreview).where(TradePreview.id == uuid.UUID(template_id))).one()
            values = {c.key: getattr(template, c.key) for c in TradePreview.__mapper__.column_attrs}

        def own_sql_preview() -> None:
            broker_call()
            row = row_object(TradePreview, {**values, "id": uuid.uuid4(), "created_at": datetime.now(UTC)})
            record_preview(self.engine, row, uuid.uuid4())

        return own_sql_preview

    def execute(self, pending: list[str], broker_call: Callable[[], Any]) -> Callable[[], None]:
        """The intent (consume + order + events + check lock; the open-exposure read; COMMIT), the broker
        call, the outcome (UPDATE + event in autocommit): each call consumes one of `pending`. The outcome is a
        fill, as the in-memory broker's answer to the bench's market orders is: an order left working would
        grow the account's open-exposure read for every later execute, the service's included."""

        def own_sql_execute() -> None:
            correlation = uuid.uuid4()
            intent = sql.IntentRow(uuid.uuid4(), str(uuid.uuid4()), True, datetime.now(UTC))
            with direct.transaction(self.engine) as tx:
                preview = sql.consume_preview(tx, uuid.UUID(pending.pop()), correlation, intent)
                if preview is None:
                    raise RuntimeError("the own-SQL baseline was handed a preview that is not ACTIVE")
                sql.open_exposure(tx, preview)
            broker_call()
            now = datetime.now(UTC)
            order = SimpleNamespace(  # a filled market order's outcome, as the service records the bench's
                id=intent.order_id, status=OrderStatus.EXECUTED, brokerage_order_id=uuid.uuid4().hex,
                broker_quantity=preview.quantity, filled_quantity=preview.quantity, remaining_quantity=Decimal(0),
                average_fill_price=preview.estimated_price, commission=Decimal(0), error_code=None,
                error_message=None, executed_at=now, cancelled_at=None, brokerage_response={"status": "Filled"},
            )
            if sql.record_outcome(self.engine, cast(TradeOrder, order), correlation, "ORDER_SUBMITTED", None,
                                  {"changes": {"status": "EXECUTED"}, "broker": {"status": "Filled"}}) is None:
                raise RuntimeError("the own-SQL baseline's order row was not SUBMITTING")

        return own_sql_execute
