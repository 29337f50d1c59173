"""Issue 16, instruments: futures and options through a real MCP client session -> service -> real ib_async ->
the IB Gateway simulator, with the IB account small enough that notional and margin give different answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult

from simulators.ib_gateway.orders import parse_place_order
from tests.assistant.test_truthful_results import over_mcp
from tests.market.conftest import ACCOUNT, Market
from tests.mcp.conftest import payload, tool_error


def _placed_on_the_wire(market: Market) -> list[Any]:
    """Every placeOrder the gateway received that was not a what-if, decoded as the simulator reads it."""
    version = market.gateway.server_version
    orders = [parse_place_order(fields, version) for _c, msg_id, fields in market.gateway.received if msg_id == 3]
    return [o for o in orders if not o.what_if]


def test_buy_one_mes_front_month_checks_initial_margin_and_places_a_future(small: Market) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        preview = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "MES", "sec_type": "FUT", "side": "BUY", "quantity": "1"}))
        order = payload(await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]}))
        status = payload(await client.call_tool("get_order_status", {"order_id": order["order_id"]}))
        return preview, order, status

    asked: list[str] = []

    async def human(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    preview, order, status = over_mcp(small, scenario, elicitation_callback=human)
    front = small.gateway.front_month("MES")
    instrument = preview["instrument"]
    assert (instrument["sec_type"], instrument["expiry"], instrument["multiplier"]) == ("FUT", front, "5")
    assert (instrument["quantity_unit"], instrument["exchange"], instrument["currency"]) == ("contracts", "CME", "USD")
    assert instrument["strike"] is None and instrument["right"] is None
    assert preview["summary"].startswith(
        f"BUY 1 contracts MES (FUT {instrument['local_symbol']} on CME, expiry {front}, multiplier 5, USD) Market")
    assert asked and preview["summary"] in asked[0]  # the human confirms the contract, month and multiplier
    checks = preview["validation"]["checks_passed"]
    assert "initial_margin" in checks and "buying_power" not in checks
    margin = preview["margin"]
    assert (margin["initial_before"], margin["initial_change"], margin["initial_after"]) == ("0", "1600", "1600")
    assert (margin["maintenance_change"], margin["currency"]) == ("1450", "USD")
    assert preview["commission_currency"] == "USD" and Decimal(preview["estimated_commission"]) == Decimal("0.62")
    assert Decimal(preview["impact"]["initial_margin_change"]) == 1600
    # on the wire: a FUT by the previewed conId, on CME, with the month and multiplier IB qualified
    [placed] = _placed_on_the_wire(small)
    contract = placed.contract
    assert (contract.sec_type, contract.symbol, contract.exchange, contract.currency) == ("FUT", "MES", "CME", "USD")
    assert contract.last_trade_date == front and contract.multiplier == "5"
    assert contract.local_symbol == instrument["local_symbol"] and contract.con_id > 0
    assert (placed.action, placed.quantity, placed.order_type) == ("BUY", Decimal(1), "MKT")
    for result in (order, status):
        assert result["instrument"] == instrument
    assert status["status"] == "EXECUTED"


def test_one_es_needs_its_initial_margin_not_its_notional(small: Market) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        one = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "/ES", "side": "BUY", "quantity": "1"}))
        seven = tool_error(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "/ES", "side": "BUY", "quantity": "7"}))
        return one, seven

    one, seven = over_mcp(small, scenario)
    notional = Decimal(one["impact"]["notional"])
    assert notional == 250_000 and notional > Decimal(one["validation"]["buying_power"])  # would have been refused
    assert Decimal(one["margin"]["initial_change"]) == 16_000
    assert seven["error_code"] == "INSUFFICIENT_FUNDS"
    assert "112,000.00 of initial margin" in seven["message"] and "available funds" in seven["message"]


def test_future_notations_name_the_same_contracts(small: Market) -> None:
    front = small.gateway.front_month("MES")
    code = "FGHJKMNQUVXZ"[int(front[4:6]) - 1]

    async def scenario(client: Client) -> list[Any]:
        tickers = ["/MES", f"/MES{code}{front[3]}", f"MES {front[:6]}", f"/MES {front[:6]}"]
        found = [payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": t, "side": "BUY", "quantity": "1"})) for t in tickers]
        found.append(payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "MES", "sec_type": "fut", "expiry": front[:6], "side": "BUY",
            "quantity": "1"})))
        return found

    previews = over_mcp(small, scenario)
    assert {p["instrument"]["local_symbol"] for p in previews} == {f"MES{code}{front[3]}"}
    assert {p["universal_symbol_id"] for p in previews} == {previews[0]["universal_symbol_id"]}


def test_continuous_future_quote_is_the_front_month(small: Market) -> None:
    quote = payload(over_mcp(small, lambda c: c.call_tool("get_quote", {"account_id": ACCOUNT, "ticker": "/ES"})))
    assert Decimal(quote["last"]) == 5000
    asked = [fields for _c, msg_id, fields in small.gateway.received if msg_id == 9]
    assert any("CONTFUT" in fields for fields in asked)  # qualified as IB's continuous future


def test_buy_a_spy_call_by_its_terms_and_by_its_occ_symbol(small: Market) -> None:
    expiry = small.gateway.option_expiry()
    occ = f"SPY   {expiry[2:]}C00510000"

    async def scenario(client: Client) -> tuple[Any, ...]:
        terms = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "SPY", "sec_type": "OPT", "expiry": expiry, "strike": 510,
            "right": "C", "side": "BUY", "quantity": "2"}))
        by_occ = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": occ, "side": "BUY", "quantity": "2"}))
        order = payload(await client.call_tool("execute_trade", {"preview_id": by_occ["preview_id"]}))
        return terms, by_occ, order

    terms, by_occ, order = over_mcp(small, scenario)
    assert terms["universal_symbol_id"] == by_occ["universal_symbol_id"]
    instrument = terms["instrument"]
    assert (instrument["sec_type"], instrument["expiry"], instrument["strike"], instrument["right"]) == (
        "OPT", expiry, "510", "C")
    assert (instrument["multiplier"], instrument["quantity_unit"]) == ("100", "contracts")
    assert "strike 510 call, multiplier 100, USD)" in terms["summary"] and "BUY 2 contracts" in terms["summary"]
    # a long option costs its premium x multiplier: checked against buying power as such
    assert Decimal(terms["impact"]["notional"]) == Decimal(terms["estimated_price"]) * 2 * 100
    assert "option_premium" in terms["validation"]["checks_passed"]
    [placed] = _placed_on_the_wire(small)
    contract = placed.contract
    assert (contract.sec_type, contract.symbol, contract.right, contract.strike) == ("OPT", "SPY", "C", Decimal(510))
    assert contract.last_trade_date == expiry and contract.multiplier == "100"
    assert order["instrument"]["local_symbol"] == occ and order["status"] == "EXECUTED"


def test_an_spx_index_option_on_cboe(small: Market) -> None:
    expiry = small.gateway.option_expiry()
    preview = payload(over_mcp(small, lambda c: c.call_tool("preview_trade", {
        "account_id": ACCOUNT, "ticker": "SPX", "sec_type": "OPT", "exchange": "CBOE", "expiry": expiry,
        "strike": "5000", "right": "P", "side": "BUY", "quantity": "1"})))
    instrument = preview["instrument"]
    assert (instrument["sec_type"], instrument["exchange"], instrument["strike"], instrument["right"]) == (
        "OPT", "CBOE", "5000", "P")
    assert instrument["local_symbol"] == f"SPX   {expiry[2:]}P05000000" and instrument["multiplier"] == "100"
    assert Decimal(preview["estimated_total"]) == Decimal(40) * 100 + Decimal(preview["estimated_commission"])


def test_a_bracket_on_a_future_places_every_leg_on_the_same_contract(small: Market) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        preview = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "MES", "sec_type": "FUT", "side": "BUY", "quantity": "1",
            "order_type": "Limit", "limit_price": "4990", "take_profit_price": "5100", "stop_loss_price": "4900"}))
        order = payload(await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]}))
        return preview, order

    preview, order = over_mcp(small, scenario)
    assert preview["instrument"]["sec_type"] == "FUT" and len(order["order_ids"]) == 3
    placed = _placed_on_the_wire(small)
    assert len(placed) == 3
    assert {(p.contract.sec_type, p.contract.con_id, p.contract.exchange) for p in placed} == {
        ("FUT", placed[0].contract.con_id, "CME")}


def test_option_chains_for_spy_and_spx(small: Market) -> None:
    expiry = small.gateway.option_expiry()

    async def scenario(client: Client) -> list[Any]:
        return [payload(await client.call_tool("get_option_chain", {
            "account_id": ACCOUNT, "underlying": underlying, "expiry": expiry})) for underlying in ("SPY", "SPX")]

    spy, spx = over_mcp(small, scenario)
    assert spy["expiries"] == spx["expiries"] == [expiry]
    assert [Decimal(s) for s in spx["strikes"]] == [4900, 4950, 5000, 5050, 5100] and spx["multiplier"] == "100"
    assert len(spx["contracts"]) == 10 and len(spy["contracts"]) == 10
    put = next(c for c in spx["contracts"] if c["right"] == "P" and Decimal(c["strike"]) == 5000)
    assert Decimal(put["last"]) == 40
