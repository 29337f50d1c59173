"""`user_email` on the REST API (issue 14): one platform user's preview or order is not another's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import client, error_of
from tests.api.process import ApiProcess
from tests.mcp.process import IBKR_ACCOUNT

pytestmark = pytest.mark.timeout(300)
ALICE, BOB = {"user_email": "alice@example.com"}, {"user_email": "bob@example.com"}


def test_another_users_preview_and_order_are_not_found(server: ApiProcess, simulators: dict[str, Any]) -> None:
    with client(server) as http:
        created = http.post("/v1/previews", params=ALICE, json={
            "account_id": IBKR_ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": "1", "order_type": "Limit",
            "limit_price": 100, "time_in_force": "GTC"})
        assert created.status_code == 201, created.text
        preview = created.json()
        assert preview["user_email"] == "alice@example.com"
        error_of(http.post("/v1/executions", params=BOB, json={"preview_id": preview["preview_id"]}), 404,
                 "PREVIEW_NOT_FOUND")
        executed = http.post("/v1/executions", params=ALICE, json={"preview_id": preview["preview_id"]})
        assert executed.status_code == 200, executed.text
        order = executed.json()
        assert order["user_email"] == "alice@example.com"
        error_of(http.get(f"/v1/orders/{order['order_id']}", params=BOB), 404, "ORDER_NOT_FOUND")
        error_of(http.post(f"/v1/orders/{order['order_id']}/cancel", params=BOB), 404, "ORDER_NOT_FOUND")
        bobs = http.get("/v1/orders", params={"account_id": IBKR_ACCOUNT, **BOB}).json()
        assert order["order_id"] not in {o.get("order_id") for o in bobs}
        assert http.get(f"/v1/orders/{order['order_id']}").json()["order_id"] == order["order_id"]  # no user
        error_of(http.get(f"/v1/orders/{order['order_id']}", params={"user_email": "bob"}), 400, "VALIDATION_ERROR")
        canceled = http.post(f"/v1/orders/{order['order_id']}/cancel", params=ALICE)
        assert canceled.status_code == 200, canceled.text
