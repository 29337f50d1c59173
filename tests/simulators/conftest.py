from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulators.ib_gateway import IBGatewaySimulator

MAIN_VERSIONS = [178, 157]


@pytest.fixture(params=MAIN_VERSIONS, ids=lambda v: f"sv{v}")
def sim(request: pytest.FixtureRequest) -> Iterator[IBGatewaySimulator]:
    """A running simulator at each of the two server versions the main tests cover."""
    simulator = IBGatewaySimulator(server_version=request.param)
    simulator.start()
    yield simulator
    simulator.close()


@pytest.fixture
def sim_latest() -> Iterator[IBGatewaySimulator]:
    simulator = IBGatewaySimulator()
    simulator.start()
    yield simulator
    simulator.close()
