"""Working buys priced in another currency count against buying power converted (issue 16 follow-up).

Through the service, the real ib_async and the simulated gateway: a USD account of 20,000 with a GBP ledger
(1.27 USD per GBP), so buying power is 42,540. A working BUY of 200 VOD at GBP 70 is GBP 14,002 with
commission, USD 17,782.54: a USD buy that fits beside the GBP figure but not beside the USD one is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from brokers.errors import ErrorCode, TradeError
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import running_sim, wait_until

ACCOUNT = "DU1234567"
D = Decimal


@pytest.fixture
def sim() -> Iterator[IBGatewaySimulator]:
    yield from running_sim(starting_cash=Decimal(20000))


def test_a_working_gbp_buy_counts_in_usd_against_buying_power(
    sim: IBGatewaySimulator, service: TradeExecutionService,
) -> None:
    sim.market_data.set_foreign_cash(ACCOUNT, "GBP", "1000", "1.27")
    wait_until(lambda: service.get_account_balance(ACCOUNT).exchange_rates.get("GBP") == D("1.27"),
               what="the GBP exchange rate")
    vod = service.preview_trade(ACCOUNT, "VOD", "BUY", 200, "Limit", "70", exchange="LSE", currency="GBP")
    assert vod.conversion is not None and vod.conversion["exchange_rate"] == "1.27"
    assert service.execute_trade(vod.preview_id).status == "ACCEPTED"  # below the market: it works
    gbp_total = D(str(vod.estimated_total))
    usd_total = gbp_total * D("1.27")

    buying_power = service.get_account_balance(ACCOUNT).buying_power
    assert buying_power is not None
    quantity = int((buying_power - D(16000)) / 190)  # fits beside GBP 14,002, not beside USD 17,782.54
    assert quantity * 190 + gbp_total < buying_power < quantity * 190 + usd_total
    aapl = service.preview_trade(ACCOUNT, "AAPL", "BUY", quantity, "Limit", "190")
    with pytest.raises(TradeError) as refused:
        service.execute_trade(aapl.preview_id)

    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert D(refused.value.details["open_buy_value"]) >= usd_total + quantity * 190
