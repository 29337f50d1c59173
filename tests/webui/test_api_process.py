"""Two real processes that agree through PostgreSQL: `tradeexec mcp` (stdio) records the request, the
`/ui` page of `tradeexec api` confirms it in a real browser, the API process places the order once."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests.api.process import api_server, wait_ready
from tests.mcp.conftest import payload
from tests.mcp.process import broker_env, running_simulators, stdio_client
from tests.mcp.test_tools import call

pytestmark = pytest.mark.timeout(300)
TRADE_PATH = re.compile(r"^/trade/[0-9a-f]{8}-[0-9a-f]{4}-")
TOKEN = "operator-process-test-token"


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def placements(simulators: dict[str, Any]) -> int:
    return len([r for r in simulators["snaptrade"].requests if r.method == "POST" and TRADE_PATH.match(r.path)])


def test_mcp_process_asks_api_process_page_confirms_one_order(
    database_url: str, simulators: dict[str, Any], session_factory: sessionmaker[Session], tmp_path: Path,
    page: Page,
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/ui"
    env = broker_env(database_url, simulators, tmp_path, 1, BROKERS="snaptrade", EXECUTE_CONFIRMATION="browser",
                     OPERATOR_TOKEN=TOKEN, UI_BASE_URL=base_url)
    paper = str(simulators["seeded"]["accounts"]["paper"])
    before = placements(simulators)

    async def ask(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        shown = payload(await call(client, "preview_trade", account_id=paper, ticker="SPY", side="BUY",
                                   quantity=1))
        return shown, payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))

    def in_stdio_session(scenario: Any) -> Any:
        """A `tradeexec mcp` stdio session on its own thread (Playwright owns this thread's event loop)."""
        async def main() -> Any:
            async with stdio_client(env) as client:
                return await scenario(client)

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(anyio.run, main).result(timeout=180)

    with api_server(env, tmp_path, "--port", str(port)) as api:
        wait_ready(api.url)
        assert f"confirmation page: {base_url}" in api.log() and TOKEN not in api.log()
        shown, asked = in_stdio_session(ask)
        assert asked["status"] == "AWAITING_CONFIRMATION" and asked["confirmation_url"].startswith(base_url)
        page.goto(asked["confirmation_url"])
        page.get_by_label("Operator token").fill(TOKEN)
        page.keyboard.press("Enter")  # keyboard only: submit the login form, then Tab to Confirm
        expect(page.get_by_role("heading", name="Order confirmation")).to_be_visible()
        for _ in range(12):
            if page.evaluate("document.activeElement && document.activeElement.dataset.action") == "confirm":
                break
            page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.locator("[data-field=approval_status]")).to_have_text("CONFIRMED")
        assert placements(simulators) == before + 1

        async def outcome(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
            order = payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))
            return order, payload(await call(client, "get_order_status", order_id=order["order_id"]))

        order, status = in_stdio_session(outcome)
        assert order["placed"] is True and status["order_id"] == order["order_id"]
        assert placements(simulators) == before + 1
