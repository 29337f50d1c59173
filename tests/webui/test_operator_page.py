"""The rest of the /ui page in a real browser: cookie flags, the dashboard's live order status, the kill
switch (off only), a live account impossible to miss, and no confirmations at all without OPERATOR_TOKEN."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.mcp.conftest import payload, tool_error
from tests.mcp.test_tools import call
from tests.webui.conftest import Desk, screenshot
from tests.webui.test_browser_confirmation import ask_for_order, events, execute_again, log_in, run


def open_dashboard(page: Page, desk: Desk) -> None:
    page.goto(desk.url("/"))
    page.get_by_label("Operator token").fill(desk.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Orders awaiting your decision")).to_be_visible()


def test_session_cookie_is_http_only_and_same_site_strict(make_desk: Any, page: Page,
                                                           context: BrowserContext) -> None:
    desk = make_desk()
    open_dashboard(page, desk)
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["tradeexec_operator"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict" and session["path"] == "/ui"
    assert desk.token not in session["value"]
    assert page.evaluate("document.cookie") == ""  # invisible to scripts


def test_dashboard_lists_pending_and_follows_order_status_without_reload(
    make_desk: Any, page: Page, session_factory: Any
) -> None:
    desk = make_desk()
    _shown, asked = ask_for_order(desk, order_type="Limit", limit_price="150.00", time_in_force="GTC")
    open_dashboard(page, desk)
    card = page.locator(f"[data-approval='{asked['approval_id']}']")
    expect(card.locator("[data-field=limit_price]")).to_have_text("150.00")
    screenshot(page, "dashboard-pending")
    card.get_by_role("button", name="Confirm BUY 2 AAPL (PAPER)").click()
    order = payload(execute_again(desk, asked["preview_id"]))
    assert order["status"] == "ACCEPTED"  # a limit under the market rests at the broker
    page.goto(desk.url("/"))
    row = page.locator(f"#orders tr[data-order='{order['order_id']}'] [data-field=order_status]")
    expect(row).to_have_text("ACCEPTED")
    desk.world.sim.fill(order["brokerage_order_id"])
    desk.service.reconcile(include_active=True)  # what the server's reconciliation loop does on its own
    expect(row).to_have_text("EXECUTED")  # the page polls; nobody reloaded it
    assert len(desk.world.placements()) == 1


def test_kill_switch_turns_trading_off_and_confirmations_are_then_refused(make_desk: Any, page: Page) -> None:
    desk = make_desk()
    _shown, asked = ask_for_order(desk)
    open_dashboard(page, desk)
    page.get_by_role("button", name="Turn trading OFF").click()
    expect(page.get_by_role("heading", name="Trading stopped")).to_be_visible()
    assert desk.kill_file.exists()
    page.goto(asked["confirmation_url"])
    page.get_by_role("button", name="Confirm BUY 2 AAPL (PAPER)").click()
    expect(page.locator("[data-field=refusal]")).to_contain_text("TRADING_DISABLED")
    expect(page.locator("[data-field=approval_status]")).to_have_text("PENDING")  # decidable once trading resumes
    assert desk.world.placements() == []
    page.goto(desk.url("/"))
    expect(page.get_by_text("trading is OFF")).to_be_visible()
    assert page.get_by_role("button", name="Turn trading ON").count() == 0
    later = tool_error(run_preview_and_execute(desk))
    assert later["error_code"] == "TRADING_DISABLED"


def run_preview_and_execute(desk: Desk) -> Any:

    async def scenario(client: Any) -> Any:
        shown = payload(await call(client, "preview_trade", account_id=desk.world.paper, ticker="AAPL",
                                   side="BUY", quantity=1))
        return await call(client, "execute_trade", preview_id=shown["preview_id"])

    return run(desk.mcp, scenario)


def test_a_live_account_is_impossible_to_miss(make_desk: Any, page: Page) -> None:
    desk = make_desk(ORDERS_ENABLED=False)  # paper mode refuses live accounts when orders are enabled
    _shown, asked = ask_for_order(desk, account_id=desk.world.live, ticker="MSFT", side="BUY", quantity=1)
    log_in(page, desk, asked["confirmation_url"])
    card = page.locator(f"[data-approval='{asked['approval_id']}']")
    expect(card.locator("[data-field=account_type]")).to_have_text("LIVE")
    expect(card).to_contain_text("real money")
    assert "live" in (card.get_attribute("class") or "")
    expect(card.get_by_role("button", name="Confirm BUY 1 MSFT (LIVE)")).to_be_visible()
    screenshot(page, "pending-live-account")


def test_live_account_in_paper_mode_is_refused_before_anyone_is_asked(make_desk: Any) -> None:
    desk = make_desk()
    refused = run_execute_on(desk, desk.world.live)
    assert tool_error(refused)["error_code"] == "TRADING_DISABLED"
    assert desk.world.placements() == []


def run_execute_on(desk: Desk, account: str) -> Any:

    async def scenario(client: Any) -> Any:
        shown = payload(await call(client, "preview_trade", account_id=account, ticker="MSFT", side="BUY",
                                   quantity=1))
        return await call(client, "execute_trade", preview_id=shown["preview_id"])

    return run(desk.mcp, scenario)


def test_without_operator_token_the_page_confirms_nothing(make_desk: Any, page: Page,
                                                          session_factory: Any) -> None:
    desk = make_desk(OPERATOR_TOKEN=None)
    _shown, asked = ask_for_order(desk)
    response = page.goto(asked["confirmation_url"])
    assert response is not None and response.status == 503
    expect(page.get_by_role("alert")).to_contain_text("OPERATOR_TOKEN is not set")
    request = urllib.request.Request(asked["confirmation_url"] + "/confirm", data=b"csrf=x", method="POST",
                                     headers={"Origin": desk.base_url.removesuffix("/ui")})
    try:
        urllib.request.urlopen(request, timeout=10)
        status = 200
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 503
    assert desk.world.placements() == []
    assert not [e for e in events(session_factory) if e.event_type == "APPROVAL_CONFIRMED"]
