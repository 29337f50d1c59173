"""A request the simulator does not implement is answered (an IB error or the empty reply), never silence:
the unmodified ib_async client gets its answer instead of waiting for its timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from ib_async import IB, Stock

from simulators.ib_gateway import IBGatewaySimulator
from tests.simulators.ibclient import connect, run

ANSWER_WITHIN = 5.0
"""Far below ib_async's request timeout (10 s in `connect`): an unanswered request fails the test."""


def _errors(ib: IB) -> list[tuple[int, int]]:
    heard: list[tuple[int, int]] = []

    def on_error(req_id: int, code: int, _message: str, _contract: Any) -> None:
        heard.append((req_id, code))

    ib.errorEvent += on_error
    return heard


def test_requests_without_a_handler_get_an_error_for_their_id(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        heard = _errors(ib)
        aapl = Stock("AAPL", "SMART", "USD")
        report = await asyncio.wait_for(ib.reqFundamentalDataAsync(aapl, "ReportSnapshot"), ANSWER_WITHIN)
        histogram = await asyncio.wait_for(ib.reqHistogramDataAsync(aapl, True, "1 week"), ANSWER_WITHIN)
        ib.disconnect()
        assert not report and not histogram
        assert [code for _req_id, code in heard] == [322, 322]
        assert all(req_id > 0 for req_id, _code in heard)  # addressed to the requests, which ended them

    run(main())


def test_requests_without_an_id_get_the_empty_reply(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        assert await asyncio.wait_for(ib.reqMktDepthExchangesAsync(), ANSWER_WITHIN) == []
        assert await asyncio.wait_for(ib.reqScannerParametersAsync(), ANSWER_WITHIN) == ""
        assert await asyncio.wait_for(ib.reqNewsProvidersAsync(), ANSWER_WITHIN) == []
        ib.disconnect()

    run(main())


def test_a_request_that_fails_in_its_handler_is_answered_and_cancels_stay_silent(
    sim_latest: IBGatewaySimulator,
) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        heard = _errors(ib)
        ib.client.send(6, 2)  # reqAccountUpdates without its fields: the handler fails
        ib.client.send(15, 1, True)  # reqAutoOpenOrders: TWS never answers it
        ib.client.send(53, 1, 99)  # cancelFundamentalData of nothing: no answer either
        await asyncio.wait_for(ib.reqCurrentTimeAsync(), ANSWER_WITHIN)  # answered in order, after the above
        ib.disconnect()
        assert heard == [(-1, 320)]

    run(main())
