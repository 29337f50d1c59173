"""The IB Gateway simulator's instruments through the unmodified ib_async client: futures months and the
front month, continuous-future qualification, option chains (SPY, SPX), a non-US stock, what-if margin and
commission currency; and every request ib_async can send is answered, or deliberately silent as with TWS."""

from __future__ import annotations

import asyncio
import inspect
import re
from decimal import Decimal

from ib_async import IB, ContFuture, Contract, Future, MarketOrder, Option, Stock
from ib_async.client import Client

from simulators.ib_gateway import IBGatewaySimulator, session, unsupported
from tests.simulators.ibclient import connect, run


async def _details(ib: IB, contract: Contract) -> list[Contract]:
    return [d.contract for d in await ib.reqContractDetailsAsync(contract) if d.contract]


def test_futures_months_front_month_and_continuous_future(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        months = await _details(ib, Future("ES", exchange="CME"))
        [continuous] = await ib.qualifyContractsAsync(ContFuture("ES", "CME"))
        ib.disconnect()
        expiries = sorted(c.lastTradeDateOrContractMonth for c in months)
        assert len(expiries) == 4 and expiries[0] == sim.front_month("ES")
        assert {c.multiplier for c in months} == {"50"} and {c.secType for c in months} == {"FUT"}
        front = next(c for c in months if c.lastTradeDateOrContractMonth == expiries[0])
        assert continuous is not None and continuous.secType == "CONTFUT"
        assert (continuous.conId, continuous.localSymbol) == (front.conId, front.localSymbol)

    run(main())


def test_option_chains_for_spy_and_spx(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        spy = await ib.reqSecDefOptParamsAsync("SPY", "", "STK", 756733)
        spx = await ib.reqSecDefOptParamsAsync("SPX", "", "IND", 416904)
        expiry = sim_latest.option_expiry()
        [put] = await _details(ib, Option("SPX", expiry, 5000, "P", "CBOE"))
        ib.disconnect()
        assert {c.tradingClass for c in spy} == {"SPY"} and 500 in spy[0].strikes
        assert {c.tradingClass for c in spx} == {"SPX"} and {c.multiplier for c in spx} == {"100"}
        assert spx[0].strikes == [4900, 4950, 5000, 5050, 5100] and spx[0].expirations == [expiry]
        assert (put.symbol, put.exchange, put.multiplier) == ("SPX", "CBOE", "100")

    run(main())


def test_vod_is_listed_on_lse_in_gbp_only(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        [lse] = await _details(ib, Stock("VOD", "LSE"))
        in_usd = await _details(ib, Stock("VOD", "SMART", "USD"))
        ib.disconnect()
        assert (lse.currency, lse.exchange, lse.primaryExchange) == ("GBP", "LSE", "LSE")
        assert in_usd == []

    run(main())


def test_what_if_margin_for_futures_options_and_a_gbp_stock(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        account = sim_latest.accounts[0]

        async def what_if(contract: Contract, quantity: int) -> tuple[Decimal, Decimal, str]:
            [qualified] = await ib.qualifyContractsAsync(contract)
            order = MarketOrder("BUY", quantity, account=account)
            state = await ib.whatIfOrderAsync(qualified, order)
            return Decimal(state.initMarginChange), Decimal(state.maintMarginChange), state.commissionCurrency

        mes = await what_if(Future("MES", sim_latest.front_month("MES"), "CME"), 2)
        call = await what_if(Option("SPY", sim_latest.option_expiry(), 510, "C", "SMART"), 1)
        vod = await what_if(Stock("VOD", "LSE", "GBP"), 1000)
        ib.disconnect()
        assert mes == (Decimal(3200), Decimal(2900), "USD")  # per-contract exchange margin, not notional
        assert call == (Decimal(0), Decimal(0), "USD")  # a long option is paid in full: no margin
        # 1000 x 72 GBP at 1.27 USD/GBP, 50% initial and 25% maintenance, in the USD base; commission in GBP
        assert vod == (Decimal("45720.00"), Decimal("22860.00"), "GBP")

    run(main())


def _client_request_ids() -> set[int]:
    """Every message id ib_async's Client can send (its source is the list)."""
    source = inspect.getsource(Client)
    ids = {int(n) for n in re.findall(r"self\.send\(\s*(\d+)", source)}
    return ids | {int(n) for n in re.findall(r"fields\s*=\s*\[\s*(\d+)", source)}


def test_every_request_ib_async_can_send_is_handled_answered_or_silent_as_with_tws() -> None:
    handled = set(session._HANDLERS) | {71}  # startApi: the handshake
    answered = set(unsupported.REQUEST_ID_FIELD) | set(unsupported.EMPTY_REPLIES) | set(unsupported.BUILT_REPLIES)
    classified = handled | answered | unsupported.SILENT | unsupported.UNADDRESSED
    ids = _client_request_ids()
    assert len(ids) >= 80
    assert ids - classified == set()
    for msg_id in sorted(ids - handled - unsupported.SILENT):
        fields = [str(msg_id), "1", "7", "", "", "", ""]
        assert unsupported.answer(msg_id, fields) is not None, msg_id  # an answer, never silence


def test_an_unimplemented_request_is_answered_at_once(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        heard: list[tuple[int, int]] = []
        ib.errorEvent += lambda req_id, code, _msg, _contract: heard.append((req_id, code))
        rule = await asyncio.wait_for(ib.reqMarketRuleAsync(26), 2)
        components = await asyncio.wait_for(ib.reqSmartComponentsAsync("a6"), 5)
        ib.disconnect()
        assert rule is not None and [(p.lowEdge, p.increment) for p in rule] == [(0.0, 0.01)]
        assert components == [] and [code for _req_id, code in heard] == [322]

    run(main())
