"""`POST /v1/previews` with a cash amount (`notional`) instead of a quantity, over real HTTP (issue 15's gap)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx2
import jsonschema
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.models import PreviewRequest
from brokers.errors import TradeError
from brokers.models import OrderRequest
from db.models import TradeEvent, TradePreview
from services.notional import parse_order_or_notional
from tests.api.conftest import client, error_of, paper_account
from tests.api.process import ApiProcess
from tests.mcp.process import IBKR_ACCOUNT

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def server(module_server: ApiProcess, session_factory: sessionmaker[Session]) -> ApiProcess:
    """The module's one API process; session_factory empties the tables after each test."""
    return module_server


def rows(session_factory: sessionmaker[Session], model: Any, *where: Any) -> int:
    with session_factory() as session:
        return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_a_cash_amount_is_previewed_as_the_brokers_quantity_and_stored(
    server: ApiProcess, simulators: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    paper = paper_account(simulators)
    simulators["snaptrade"].clear_requests()
    with client(server) as http:
        created = http.post("/v1/previews", json={"account_id": paper, "ticker": "msft", "side": "buy",
                                                  "notional": "1000"})
        assert created.status_code == 201, created.text
        preview = created.json()
        executed = http.post("/v1/executions", json={"preview_id": preview["preview_id"]})
    estimate = Decimal(preview["quantity"])
    assert preview["notional"] == "1000" and preview["estimated_quantity"] == preview["quantity"]
    assert 2 < estimate < Decimal("2.4")  # MSFT at about 420 in the simulator: SnapTrade chose the units
    [impact] = [r for r in simulators["snaptrade"].requests if r.path == "/trade/impact"]
    assert impact.body.get("notional_value") == "1000" and "units" not in impact.body
    with session_factory() as session:
        row = session.execute(select(TradePreview)).scalar_one()
        assert str(row.id) == preview["preview_id"]
        assert (row.ticker, row.side, row.order_type) == ("MSFT", "BUY", "Market")
        assert row.quantity == estimate and row.order_options == {"notional": "1000"}
    assert executed.status_code == 200, executed.text
    assert executed.json()["preview_id"] == preview["preview_id"]  # the stored terms are what was placed


@pytest.mark.parametrize("amounts", [{"quantity": "2", "notional": "1000"}, {}, {"quantity": None}])
def test_both_or_neither_is_refused_in_the_services_words_and_writes_nothing(
    server: ApiProcess, simulators: dict[str, Any], session_factory: sessionmaker[Session],
    amounts: dict[str, Any],
) -> None:
    terms = {"account_id": paper_account(simulators), "ticker": "MSFT", "side": "BUY", **amounts}
    with pytest.raises(TradeError) as service:
        parse_order_or_notional(**terms)
    with client(server) as http:
        refused = error_of(http.post("/v1/previews", json=terms), 400, "VALIDATION_ERROR")
    assert {p["field"] for p in refused["details"]["problems"]} == {"quantity", "notional"}
    assert refused["details"] == service.value.details and refused["message"] == str(service.value)
    assert rows(session_factory, TradePreview) == 0
    assert rows(session_factory, TradeEvent, TradeEvent.event_type == "PREVIEW_REFUSED") == 0  # refused at the edge


def test_a_cash_amount_where_none_is_taken_is_refused_as_the_tool_refuses_it(
    server: ApiProcess, simulators: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    with client(server) as http:
        limit = error_of(http.post("/v1/previews", json={
            "account_id": paper_account(simulators), "ticker": "MSFT", "side": "BUY", "notional": 1000,
            "order_type": "Limit", "limit_price": "400"}), 422, "UNSUPPORTED_ORDER")
        ibkr = error_of(http.post("/v1/previews", json={
            "account_id": IBKR_ACCOUNT, "ticker": "MSFT", "side": "BUY", "notional": "1000"}), 422, "UNSUPPORTED_ORDER")
    assert limit["message"].startswith("SnapTrade takes a cash amount only for Market Day orders. USD 1,000 buys ")
    assert limit["details"]["field"] == "notional"
    assert ibkr["message"].startswith("IBKR takes no orders for a cash amount. USD 1,000 buys ")
    assert ibkr["details"]["suggested_quantity"] == str(ibkr["details"]["whole_shares"])
    assert rows(session_factory, TradePreview) == 0
    assert rows(session_factory, TradeEvent, TradeEvent.event_type == "PREVIEW_REFUSED") == 2  # the service's refusals


def test_openapi_describes_quantity_or_notional(server: ApiProcess) -> None:
    spec = httpx2.get(f"{server.url}/openapi.json", timeout=30).json()
    content = spec["paths"]["/v1/previews"]["post"]["requestBody"]["content"]["application/json"]
    name = content["schema"]["$ref"].rsplit("/", 1)[-1]
    body = spec["components"]["schemas"][name]
    assert {"quantity", "notional", "order_type", "limit_price", "sec_type"} <= set(body["properties"])
    assert set(body["required"]) == {"account_id", "ticker", "side"} and body["additionalProperties"] is False
    assert set(body["properties"]) == set(OrderRequest.model_fields)  # the order's own terms, nothing else
    order_schema = OrderRequest.model_json_schema()["properties"]
    assert {k: v for k, v in PreviewRequest.model_json_schema()["properties"].items()
            if k not in {"quantity", "notional"}} == {k: v for k, v in order_schema.items()
                                                      if k not in {"quantity", "notional"}}  # and their rules
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    order = {"account_id": "PA-1", "ticker": "MSFT", "side": "BUY"}
    for accepted in ({"quantity": "2"}, {"notional": 1000}, {"quantity": None, "notional": "1000"}):
        jsonschema.validate({**order, **accepted}, schema)
    for refused in ({"quantity": 2, "notional": 1000}, {}, {"quantity": None}, {"notional": 1000, "qty": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**order, **refused}, schema)
