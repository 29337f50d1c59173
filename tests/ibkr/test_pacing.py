"""Placements first (issue 13): reads wait in our pacing budget, never ahead of an order in ib_async's
queue; the post-trade refresh coalesces; each call sends no more messages than the budget counts.

These run with ib_async's real pacing on (45 messages/s), unlike the other tests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from ib_async import IB

from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.pacing import OPERATION_COSTS, PacingBudget
from brokers.models import OrderRequest, OrderStatus
from brokers.records import OrderLookup, OrderToPlace
from settings import TradingMode
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, make_manager, wait_until

D = Decimal
SUMMARY, MARKET_DATA, PLACE_ORDER = 62, 1, 3


def _request(**fields: object) -> OrderRequest:
    values: dict[str, object] = {"account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": D(5),
                                 "order_type": "Limit", "limit_price": D("185.00")}
    values.update(fields)
    return OrderRequest.model_validate(values)


@pytest.fixture
def paced(sim: IBGatewaySimulator) -> Iterator[IBKRBrokerAdapter]:
    manager = make_manager(sim.port, max_requests_per_second=45)
    adapter = IBKRBrokerAdapter(manager, trading_mode=TradingMode.PAPER, owns_manager=True)
    yield adapter
    adapter.close()


def _ids(sim: IBGatewaySimulator) -> list[int]:
    return [msg_id for _cid, msg_id, _fields in sim.received]


def test_a_placement_overtakes_queued_reads(sim: IBGatewaySimulator, paced: IBKRBrokerAdapter) -> None:
    sim.auto_fill = False
    paced.get_quote(ACCOUNT, "AAPL")  # connect and cache the contract
    sim.clear_received()
    errors: list[BaseException] = []

    def quotes() -> None:
        try:
            for _ in range(5):
                paced.get_quote(ACCOUNT, "AAPL")
        except BaseException as exc:  # reported below
            errors.append(exc)

    readers = [threading.Thread(target=quotes) for _ in range(16)]  # 80 snapshots: over 2 s at 35 reads/s
    for reader in readers:
        reader.start()
    wait_until(lambda: paced.manager.pacing.stats.reads_delayed > 0, what="reads waiting for room")
    placed = paced.place_order(ACCOUNT, OrderToPlace(request=_request(), broker_symbol_id=None), "ref-first")
    for reader in readers:
        reader.join(30)

    assert placed.status is OrderStatus.ACCEPTED and not errors
    ids = _ids(sim)
    last_read = len(ids) - 1 - ids[::-1].index(MARKET_DATA)
    assert ids.index(PLACE_ORDER) < last_read  # the order went out while reads were still waiting
    assert paced.manager.pacing.stats.ib_async_stalls == 0  # ib_async's own queue never formed


def test_refresh_after_trade_coalesces(sim: IBGatewaySimulator, paced: IBKRBrokerAdapter) -> None:
    paced.list_accounts()
    sim.clear_received()

    async def twenty_executes_at_once(_ib: IB) -> None:  # on the loop: all asked before any refresh starts
        for _ in range(20):
            paced.refresh_after_trade(ACCOUNT)

    paced.manager.run_sync(twenty_executes_at_once)
    background = paced.manager.background
    wait_until(lambda: background.requested == 20 and background.idle, what="the refreshes to settle")
    assert background.runs == 1 and _ids(sim).count(SUMMARY) == 1
    paced.refresh_after_trade(ACCOUNT)  # a later trade gets its own refresh
    wait_until(lambda: background.requested == 21 and background.idle, what="the next refresh")
    assert background.runs == 2


def test_each_call_sends_no_more_than_its_budgeted_cost(sim: IBGatewaySimulator,
                                                        paced: IBKRBrokerAdapter) -> None:
    """Steady state (connected, contract known): what each call writes to the gateway."""
    paced.get_quote(ACCOUNT, "AAPL")
    sent = paced.manager.messages_sent
    counts: dict[str, int] = {}

    def measure(name: str, call: Callable[[], object]) -> None:
        nonlocal sent
        before = len(sim.received)
        call()
        counts[name] = len(sim.received) - before
        assert paced.manager.messages_sent - sent == counts[name]  # the manager's counter agrees
        sent = paced.manager.messages_sent

    measure("preview", lambda: paced.preview_order(_request()))
    measure("quote", lambda: paced.get_quote(ACCOUNT, "AAPL"))
    measure("order", lambda: paced.place_order(ACCOUNT, OrderToPlace(request=_request(), broker_symbol_id=None),
                                               "ref-cost"))
    lookup = OrderLookup(account_id=ACCOUNT, client_order_ref="ref-cost", request=_request(),
                         submitted_at=datetime.now(UTC))
    measure("lookup", lambda: paced.find_order_by_ref(lookup))
    assert counts == {"preview": 2, "quote": 1, "order": 1, "lookup": 3}  # whatIf + snapshot; placeOrder only
    for name, count in counts.items():
        assert count <= OPERATION_COSTS["read" if name == "quote" else name]



def test_the_execute_time_holdings_reads_send_nothing(sim: IBGatewaySimulator, paced: IBKRBrokerAdapter) -> None:
    """The holdings check reads ib_async's caches (positions, the subscribed account summary)."""
    paced.get_account_balance(ACCOUNT)  # connect; the first balance read subscribes the account summary
    assert paced.manager.account_summary_cached
    before = len(sim.received)
    for _ in range(20):
        paced.get_account_balance(ACCOUNT)
        paced.get_positions(ACCOUNT)
    assert sim.received[before:] == []


def test_a_read_that_sends_nothing_is_never_held_for_room() -> None:
    """Declared cost 0 (a cache read): admitted even when the last second's window is full."""
    sent = 0
    budget = PacingBudget(45, sent=lambda: sent)

    async def run() -> None:
        nonlocal sent
        budget.spend()
        sent = 44  # 44 messages written within the last second: no room for a read of 1
        await asyncio.wait_for(budget.admit(0), 0.5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(budget.admit(1), 0.3)

    asyncio.run(run())
