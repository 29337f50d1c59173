"""The own-SQL baseline (bench/own_sql.py) must write what the service writes, or its ratios mean nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from bench.context import ACCOUNT, BenchContext, bench_broker
from bench.database import bench_server_url, fresh_bench_database
from bench.own_sql import OwnSql
from bench.service_figures import _preview, _request, _to_place
from db.models import TradeEvent, TradeOrder, TradePreview


@pytest.fixture
def ctx(database_url: str) -> Iterator[BenchContext]:
    server, _ = bench_server_url(database_url)
    with fresh_bench_database(server) as url:
        context = BenchContext(url, quick=True)
        try:
            yield context
        finally:
            context.close()


def _written(ctx: BenchContext, preview_id: str) -> tuple[TradePreview, list[TradeOrder], list[str]]:
    with ctx.session_factory() as session:
        preview = session.get_one(TradePreview, uuid.UUID(preview_id))
        orders = list(session.scalars(select(TradeOrder).where(TradeOrder.preview_id == preview.id)))
        events = list(session.scalars(select(TradeEvent.event_type).where(TradeEvent.preview_id == preview.id)
                                      .order_by(TradeEvent.id)))
    return preview, orders, events


def test_an_own_sql_execute_writes_what_a_service_execute_writes(ctx: BenchContext) -> None:
    broker = bench_broker()
    own = OwnSql(ctx.engine, ctx.session_factory)
    with ctx.service([broker]) as service:
        by_service, by_own_sql = _preview(service), _preview(service)
        service.execute_trade(by_service)
        pending = [by_own_sql]
        own.execute(pending, lambda: broker.place_order(ACCOUNT, _to_place(), uuid.uuid4().hex))()
    assert pending == []  # it consumed the preview it was handed

    service_preview, service_orders, service_events = _written(ctx, by_service)
    own_preview, own_orders, own_events = _written(ctx, by_own_sql)
    assert own_preview.status == service_preview.status == "EXECUTED"
    assert own_events == service_events == ["PREVIEW_CREATED", "EXECUTE_REQUESTED", "ORDER_SUBMITTING",
                                            "ORDER_SUBMITTED"]
    [service_order], [own_order] = service_orders, own_orders
    assert own_order.status == service_order.status == "EXECUTED"  # filled: it leaves no working order behind
    assert own_order.filled_quantity == service_order.filled_quantity == Decimal(1)
    assert own_order.brokerage_order_id and own_order.submitted_at is not None


def test_an_own_sql_execute_refuses_a_used_preview(ctx: BenchContext) -> None:
    own = OwnSql(ctx.engine, ctx.session_factory)
    with ctx.service([bench_broker()]) as service:
        used = _preview(service)
        service.execute_trade(used)
    with pytest.raises(RuntimeError, match="not ACTIVE"):
        own.execute([used], lambda: None)()


def test_an_own_sql_preview_stores_a_copy_of_the_template(ctx: BenchContext) -> None:
    broker = bench_broker()
    own = OwnSql(ctx.engine, ctx.session_factory)
    with ctx.service([broker]) as service:
        template = _preview(service)
    asked: list[object] = []
    own.preview(template, lambda: asked.append(broker.preview_order(_request())))()
    assert len(asked) == 1
    with ctx.session_factory() as session:
        rows = list(session.scalars(select(TradePreview).order_by(TradePreview.created_at)))
        assert [str(r.id) == template for r in rows] == [True, False]
        first, copy = rows
        assert (copy.ticker, copy.quantity, copy.broker_preview_data, copy.impact, copy.status) == (
            first.ticker, first.quantity, first.broker_preview_data, first.impact, first.status)
        created = session.scalars(select(TradeEvent.event_type).where(TradeEvent.preview_id == copy.id)).all()
    assert created == ["PREVIEW_CREATED"]
