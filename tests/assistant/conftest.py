"""The assistant-session tests run on both simulators, the same set-up as the market-data tests."""

from tests.market.conftest import market  # noqa: F401  (re-exported fixture)
