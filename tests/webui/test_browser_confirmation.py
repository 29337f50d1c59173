"""EXECUTE_CONFIRMATION=browser end to end: the model asks over MCP, a human decides in a real browser.

Real parts only: the MCP client session, the SnapTrade SDK against its simulator, PostgreSQL,
a real HTTP server for /ui and headless Chromium driven by Playwright.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx2
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeApproval, TradeEvent, TradePreview
from services.order_store import utcnow
from tests.mcp.conftest import payload, tool_error
from tests.mcp.test_tools import call
from tests.mcp.test_tools import run as run_in_this_thread
from tests.webui.conftest import Desk, screenshot
from webui.pages import money


def run(server: Any, scenario: Any, mode: str = "legacy", **options: Any) -> Any:
    """An MCP client session on its own thread: Playwright's sync API owns this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run_in_this_thread, server, scenario, mode, **options).result(timeout=120)


def ask_for_order(desk: Desk, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """preview_trade then execute_trade over MCP: the preview and the 'awaiting confirmation' answer."""
    async def scenario(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        terms = {"account_id": desk.world.paper, "ticker": "AAPL", "side": "BUY", "quantity": 2, **overrides}
        shown = payload(await call(client, "preview_trade", **terms))
        return shown, payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))

    return run(desk.mcp, scenario)  # type: ignore[no-any-return]


def execute_again(desk: Desk, preview_id: str) -> Any:
    return run(desk.mcp, lambda c: call(c, "execute_trade", preview_id=preview_id))


def log_in(page: Page, desk: Desk, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Operator login")).to_be_visible()
    page.get_by_label("Operator token").fill(desk.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Order confirmation")).to_be_visible()


def events(factory: sessionmaker[Session], preview_id: str | None = None) -> list[TradeEvent]:
    with factory() as session:
        stmt = select(TradeEvent).order_by(TradeEvent.id)
        if preview_id is not None:
            stmt = stmt.where(TradeEvent.preview_id == uuid.UUID(preview_id))
        return list(session.execute(stmt).scalars())


def test_confirm_in_the_browser_places_exactly_one_order(
    make_desk: Any, page: Page, session_factory: sessionmaker[Session]
) -> None:
    desk = make_desk()
    shown, asked = ask_for_order(desk)
    assert asked["status"] == "AWAITING_CONFIRMATION" and asked["placed"] is False
    url = asked["confirmation_url"]
    assert url.startswith(desk.base_url + "/approvals/") and desk.token not in str(asked)
    assert desk.world.placements() == []

    log_in(page, desk, url)
    card = page.locator(f"[data-approval='{asked['approval_id']}']")
    expect(card.locator("[data-field=side]")).to_have_text("BUY")
    expect(card.locator("[data-field=account_type]")).to_have_text("PAPER")
    expect(card.locator("[data-field=ticker]")).to_have_text("AAPL")
    expect(card.locator("[data-field=account_id]")).to_have_text(desk.world.paper)
    expect(card.locator("[data-field=estimated_total]")).to_have_text(money(Decimal(shown["estimated_total"])))
    expect(card.locator("[data-field=estimated_price]")).to_have_text(money(Decimal(shown["estimated_price"])))
    assert card.locator("td.num").first.evaluate("e => getComputedStyle(e).textAlign") == "right"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # fits a phone (430 px)
    screenshot(page, "pending-preview")

    page.get_by_role("button", name="Confirm BUY 2 AAPL (PAPER)").click()
    expect(card.locator("[data-field=approval_status]")).to_have_text("CONFIRMED")
    expect(card.locator("[data-field=order_status]")).to_be_visible()
    screenshot(page, "confirmed-order")
    assert len(desk.world.placements()) == 1

    order = payload(execute_again(desk, shown["preview_id"]))
    assert order["placed"] is True and order["status"] in ("EXECUTED", "ACCEPTED", "PENDING")
    assert len(desk.world.placements()) == 1
    status = payload(run(desk.mcp, lambda c: call(c, "get_order_status", order_id=order["order_id"])))
    assert status["order_id"] == order["order_id"] and status["preview_id"] == shown["preview_id"]
    expect(card.locator("[data-field=order_id]")).to_have_text(order["order_id"])

    trail = events(session_factory)
    login = [e for e in trail if e.event_type == "OPERATOR_LOGIN"]
    confirmed = [e for e in trail if e.event_type == "APPROVAL_CONFIRMED"]
    assert len(login) == 1 and len(confirmed) == 1
    assert confirmed[0].payload["operator_session"] == login[0].payload["operator_session"]


def test_decline_places_nothing_and_the_model_hears_no(
    make_desk: Any, page: Page, session_factory: sessionmaker[Session]
) -> None:
    desk = make_desk()
    shown, asked = ask_for_order(desk, side="SELL", quantity=1)
    log_in(page, desk, asked["confirmation_url"])
    expect(page.locator("[data-field=side]")).to_have_text("SELL")
    page.get_by_role("button", name="Decline").click()
    expect(page.locator("[data-field=approval_status]")).to_have_text("DECLINED")
    assert desk.world.placements() == []
    again = payload(execute_again(desk, shown["preview_id"]))
    assert again["status"] == "NOT_CONFIRMED" and again["placed"] is False
    assert desk.world.placements() == []
    assert "APPROVAL_DECLINED" in [e.event_type for e in events(session_factory, shown["preview_id"])]


def test_two_tabs_confirming_at_once_place_one_order(make_desk: Any, context: BrowserContext) -> None:
    desk = make_desk()
    _shown, asked = ask_for_order(desk)
    first = context.new_page()
    log_in(first, desk, asked["confirmation_url"])
    second = context.new_page()
    second.goto(asked["confirmation_url"])
    buttons = [tab.get_by_role("button", name="Confirm BUY 2 AAPL (PAPER)") for tab in (first, second)]
    for button in buttons:
        button.click(no_wait_after=True)
    for tab in (first, second):
        expect(tab.locator("[data-field=approval_status]")).to_have_text("CONFIRMED")
    refused = [tab for tab in (first, second) if tab.locator("[data-field=refusal]").count()]
    assert len(refused) == 1
    expect(refused[0].locator("[data-field=refusal]")).to_contain_text("ALREADY_EXECUTED")
    assert len(desk.world.placements()) == 1


def test_forged_requests_are_refused_and_place_nothing(
    make_desk: Any, page: Page, context: BrowserContext, session_factory: sessionmaker[Session]
) -> None:
    desk = make_desk()
    _shown, asked = ask_for_order(desk)
    confirm = f"{desk.base_url}/approvals/{asked['approval_id']}/confirm"
    origin = {"Origin": desk.base_url.removesuffix("/ui")}
    log_in(page, desk, asked["confirmation_url"])
    cookie = {c["name"]: c["value"] for c in context.cookies()}
    csrf = page.locator("input[name=csrf]").first.input_value()
    with httpx2.Client(timeout=10) as anonymous:
        no_cookie = anonymous.post(confirm, data={"csrf": csrf}, headers=origin)
    with httpx2.Client(timeout=10, cookies=cookie) as http:
        bad_csrf = http.post(confirm, data={"csrf": "0" * 64}, headers=origin)
        no_csrf = http.post(confirm, data={}, headers=origin)
        cross_site = http.post(confirm, data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
        no_origin = http.post(confirm, data={"csrf": csrf})
        rebound = http.post(confirm, data={"csrf": csrf}, headers={**origin, "Host": "evil.example"})
    assert (no_cookie.status_code, bad_csrf.status_code, no_csrf.status_code) == (401, 403, 403)
    assert (cross_site.status_code, no_origin.status_code, rebound.status_code) == (403, 403, 421)
    assert desk.world.placements() == []
    with session_factory() as session:
        row = session.execute(select(TradeApproval)).scalar_one()
        assert row.status == "PENDING"
    refusals = [e for e in events(session_factory) if e.event_type == "UI_REQUEST_REFUSED"]
    assert sorted(e.payload["http_status"] for e in refusals) == [401, 403, 403, 403, 403, 421]
    assert {e.payload["path"] for e in refusals} == {f"/ui/approvals/{asked['approval_id']}/confirm"}


def test_the_model_visible_url_alone_shows_only_the_login_page(
    make_desk: Any, page: Page, session_factory: sessionmaker[Session]
) -> None:
    desk = make_desk()
    _shown, asked = ask_for_order(desk)
    page.goto(asked["confirmation_url"])
    expect(page.get_by_role("heading", name="Operator login")).to_be_visible()
    assert page.get_by_role("button", name="Confirm BUY 2 AAPL (PAPER)").count() == 0
    page.get_by_label("Operator token").fill("not-the-operator-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong operator token.")
    assert desk.world.placements() == []
    assert "OPERATOR_LOGIN_REFUSED" in [e.event_type for e in events(session_factory)]


def test_confirming_after_expiry_places_nothing_and_offers_a_fresh_preview(
    make_desk: Any, page: Page, session_factory: sessionmaker[Session]
) -> None:
    desk = make_desk()
    shown, asked = ask_for_order(desk)
    log_in(page, desk, asked["confirmation_url"])
    past = utcnow().replace(year=2020)
    with session_factory.begin() as session:
        session.execute(update(TradePreview).values(expires_at=past))
        session.execute(update(TradeApproval).values(expires_at=past))
    page.get_by_role("button", name="Confirm BUY 2 AAPL (PAPER)").click()
    expect(page.locator("[data-field=refusal]")).to_contain_text("PREVIEW_EXPIRED")
    assert desk.world.placements() == []
    assert tool_error(execute_again(desk, shown["preview_id"]))["error_code"] == "PREVIEW_EXPIRED"
    page.get_by_role("button", name="Preview again with today's prices").click()
    expect(page.locator("[data-field=approval_status]")).to_have_text("PENDING")
    assert page.url != asked["confirmation_url"]
    assert desk.world.placements() == []


def test_url_mode_elicitation_hands_the_page_to_the_client(make_desk: Any) -> None:
    desk = make_desk()
    opened: list[ElicitRequestParams] = []

    async def client_opens(_context: Any, params: ElicitRequestParams) -> ElicitResult:
        opened.append(params)
        return ElicitResult(action="accept")

    async def scenario(client: Client) -> dict[str, Any]:
        shown = payload(await call(client, "preview_trade", account_id=desk.world.paper, ticker="MSFT",
                                   side="BUY", quantity=1))
        return payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))

    asked = run(desk.mcp, scenario, "legacy", elicitation_callback=client_opens)
    assert asked["status"] == "AWAITING_CONFIRMATION"
    assert len(opened) == 1 and opened[0].mode == "url"  # type: ignore[union-attr]
    assert opened[0].url == asked["confirmation_url"]  # type: ignore[union-attr]
    assert desk.world.placements() == []
